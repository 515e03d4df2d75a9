"""Generative adversarial networks for (T, C) sensor windows; the generator is the deployable part.

- GAN (Goodfellow et al. 2014): min_G max_D E[log D(x)] + E[log(1 − D(G(z)))]. D minimises the
  cross-entropy −log D(x) − log(1 − D(G(z))); G uses the non-saturating loss −log D(G(z)) (§3),
  which keeps gradients alive while D still wins easily.
- WGAN-GP (Gulrajani et al. 2017): critic loss E[D(G(z))] − E[D(x)] + λ·E[(‖∇_x̂ D(x̂)‖₂ − 1)²] on
  x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1]; generator loss −E[D(G(z))]; `n_critic` critic steps (on the
  same real batch, with fresh noise) per generator step. The critic has no batch norm.
- Conditional GAN (Mirza & Osindero 2014): G(z, y) and D(x, y) see the class y through a learned
  label embedding (`n_classes` > 0; data are (windows, labels)).
Both networks are 2-D convs on the (1, T, C) image (see `models.conv`): transposed convs up in G,
strided convs with leaky ReLU down in D.
"""

from prognos.models.conv import Grid, check_divisible, conv_bn, lift, lower, upconv_bn
from prognos.models.kerasapi import keras, tf
from prognos.models.registry import register_model

L = keras.layers


def _bce(labels_value, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.fill(tf.shape(logits), labels_value), logits))


@keras.utils.register_keras_serializable(package="prognos")
class GAN(keras.Model):
    """Generator + discriminator with the non-saturating loss; `model(z)` generates windows.

    `compile(d_optimizer, g_optimizer)` takes one optimizer per network (both Adam by default).
    Metrics: d_loss, g_loss (each computed before its own update).
    """

    def __init__(self, generator, discriminator, latent_dim, n_classes=0, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.n_classes = int(latent_dim), int(n_classes)
        self.built = True  # its sub-models are built functional models: nothing left to build
        self.trackers = [keras.metrics.Mean(name="d_loss"), keras.metrics.Mean(name="g_loss")]

    def call(self, inputs, training=None):
        return self.generator(inputs, training=training)

    @property
    def metrics(self):
        return self.trackers

    def compile(self, d_optimizer="adam", g_optimizer="adam", **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)

    def get_compile_config(self):
        if not getattr(self, "d_optimizer", None):
            return None
        return {
            "d_optimizer": keras.optimizers.serialize(self.d_optimizer),
            "g_optimizer": keras.optimizers.serialize(self.g_optimizer),
        }

    def compile_from_config(self, config):
        self.compile(**{k: keras.optimizers.deserialize(v) for k, v in config.items()})
        self.d_optimizer.build(self.discriminator.trainable_variables)  # so saved slots can load
        self.g_optimizer.build(self.generator.trainable_variables)

    def latent(self, n, labels=None):
        """Generator input for `n` windows: z ~ N(0, I), with int `labels` when conditional."""
        z = tf.random.normal((n, self.latent_dim))
        return [z, self._labels(labels)] if self.n_classes else z

    def _labels(self, labels):
        return tf.reshape(tf.cast(labels, tf.int32), (-1, 1))

    def _d(self, x, labels):
        return self.discriminator([x, labels] if self.n_classes else x, training=True)

    def _g(self, z, labels):
        return self.generator([z, labels] if self.n_classes else z, training=True)

    def discriminator_loss(self, real, z, labels=None):
        fake = self._g(z, labels)
        return _bce(1.0, self._d(real, labels)) + _bce(0.0, self._d(fake, labels))

    def generator_loss(self, z, labels=None):
        return _bce(1.0, self._d(self._g(z, labels), labels))  # non-saturating: −log D(G(z))

    def d_step(self, real, z, labels=None):
        """One optimizer step of D on its loss; returns the loss before the step."""
        return self._step(lambda: self.discriminator_loss(real, z, labels), self.discriminator, self.d_optimizer)

    def g_step(self, z, labels=None):
        """One optimizer step of G on its loss; returns the loss before the step."""
        return self._step(lambda: self.generator_loss(z, labels), self.generator, self.g_optimizer)

    @staticmethod
    def _step(loss_fn, net, optimizer):
        with tf.GradientTape() as tape:
            loss = loss_fn()
        optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables))
        return loss

    def _unpack(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return tf.cast(x, tf.float32), (self._labels(y) if self.n_classes else None)

    def _report(self, d_loss, g_loss):
        for tracker, value in zip(self.trackers, (d_loss, g_loss)):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}

    def train_step(self, data):
        real, labels = self._unpack(data)
        d_loss = self.d_step(real, tf.random.normal((tf.shape(real)[0], self.latent_dim)), labels)
        g_loss = self.g_step(tf.random.normal((tf.shape(real)[0], self.latent_dim)), labels)
        return self._report(d_loss, g_loss)

    def test_step(self, data):
        real, labels = self._unpack(data)
        z = tf.random.normal((tf.shape(real)[0], self.latent_dim))
        return self._report(self.discriminator_loss(real, z, labels), self.generator_loss(z, labels))

    def deployable_models(self):
        return {"generator": self.generator}

    def get_config(self):
        return {
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "n_classes": self.n_classes,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        discriminator = keras.saving.deserialize_keras_object(config.pop("discriminator"))
        return cls(generator, discriminator, **config)


@keras.utils.register_keras_serializable(package="prognos")
class WGANGP(GAN):
    """Wasserstein GAN with gradient penalty: a critic D (unbounded scores) instead of a classifier."""

    def __init__(self, generator, discriminator, latent_dim, n_classes=0, gp_weight=10.0, n_critic=5, **kwargs):
        super().__init__(generator, discriminator, latent_dim, n_classes, **kwargs)
        self.gp_weight, self.n_critic = float(gp_weight), int(n_critic)

    def gradient_penalty(self, real, fake, labels):
        """E[(‖∇_x̂ D(x̂)‖₂ − 1)²] on random interpolates x̂ between real and generated windows."""
        eps = tf.random.uniform(tf.concat([tf.shape(real)[:1], tf.ones_like(tf.shape(real)[1:])], 0))
        mixed = eps * real + (1.0 - eps) * fake
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            scores = self._d(mixed, labels)
        grads = tf.reshape(tape.gradient(scores, mixed), (tf.shape(real)[0], -1))
        return tf.reduce_mean(tf.square(tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + 1e-12) - 1.0))

    def discriminator_loss(self, real, z, labels=None):
        fake = self._g(z, labels)
        wasserstein = tf.reduce_mean(self._d(fake, labels)) - tf.reduce_mean(self._d(real, labels))
        return wasserstein + self.gp_weight * self.gradient_penalty(real, fake, labels)

    def generator_loss(self, z, labels=None):
        return -tf.reduce_mean(self._d(self._g(z, labels), labels))

    def train_step(self, data):
        real, labels = self._unpack(data)
        n = tf.shape(real)[0]
        for _ in range(self.n_critic):
            d_loss = self.d_step(real, tf.random.normal((n, self.latent_dim)), labels)
        g_loss = self.g_step(tf.random.normal((n, self.latent_dim)), labels)
        return self._report(d_loss, g_loss)

    def get_config(self):
        return {**super().get_config(), "gp_weight": self.gp_weight, "n_critic": self.n_critic}


def _label_input(batch_size):
    return keras.Input((1,), batch_size=batch_size, dtype="int32", name="label")


def generator_net(window_shape, latent_dim, n_classes, filters, kernel, batch_size):
    """z (+ embedded label) -> dense -> (1, T/2^k, f₀) -> k stride-2 transposed convs -> (T, C)."""
    steps, channels = window_shape[0] // 2 ** len(filters), window_shape[-1]
    z = keras.Input((latent_dim,), batch_size=batch_size, name="z")
    inputs, h = [z], z
    if n_classes:
        inputs.append(_label_input(batch_size))
        embedded = L.Flatten(name="label_flat")(L.Embedding(n_classes, latent_dim, name="label_embed")(inputs[1]))
        h = L.Concatenate(name="z_label")([z, embedded])
    h = L.Dense(steps * filters[0], use_bias=False, name="project")(h)
    h = L.ReLU(name="project_act")(L.BatchNormalization(name="project_bn")(h))
    h = L.Reshape((1, steps, filters[0]), name="as_image")(h)
    grid = Grid(one_d=True)
    for i, f in enumerate(filters):
        h = upconv_bn(h, grid, f, kernel, 2, name=f"up{i + 1}")
    h = L.Conv2D(channels, grid.size(kernel), padding="same", name="window_out")(h)
    return keras.Model(inputs if n_classes else z, lower(h, window_shape), name="generator")


def discriminator_net(window_shape, n_classes, filters, kernel, batch_size):
    """(T, C) window (+ embedded label as one more channel) -> strided convs (leaky ReLU) -> 1 logit."""
    window = keras.Input(window_shape, batch_size=batch_size, name="window")
    inputs, x = [window], window
    if n_classes:
        inputs.append(_label_input(batch_size))
        embedded = L.Embedding(n_classes, window_shape[0], name="label_embed")(inputs[1])
        x = L.Concatenate(name="window_label")([x, L.Reshape((window_shape[0], 1), name="label_channel")(embedded)])
    x, grid = lift(x)
    for i, f in enumerate(filters):
        x = conv_bn(x, grid, f, kernel, 2, act="leaky_relu", bn=False, name=f"down{i + 1}")
    logit = L.Dense(1, name="logit")(L.Flatten(name="flatten")(x))
    return keras.Model(inputs if n_classes else window, logit, name="discriminator")


def build_gan(cls, input_shape, batch_size, latent_dim, n_classes, g_filters, d_filters, kernel, **extra):
    check_divisible(input_shape, 2 ** len(g_filters), "GAN generator")
    g = generator_net(input_shape, latent_dim, n_classes, g_filters, kernel, batch_size)
    d = discriminator_net(input_shape, n_classes, d_filters, kernel, batch_size)
    return cls(g, d, latent_dim, n_classes, **extra)


@register_model("gan", tasks=("generate",), full=True)
def gan(input_shape, task, n_outputs, batch_size=None, latent_dim=16, g_filters=(32, 16), d_filters=(16, 32), kernel=5):
    """DCGAN-style GAN with the non-saturating generator loss."""
    return build_gan(GAN, input_shape, batch_size, latent_dim, 0, g_filters, d_filters, kernel, name="gan")


@register_model("wgan_gp", tasks=("generate",), full=True)
def wgan_gp(
    input_shape,
    task,
    n_outputs,
    batch_size=None,
    latent_dim=16,
    g_filters=(32, 16),
    d_filters=(16, 32),
    kernel=5,
    gp_weight=10.0,
    n_critic=5,
):
    """WGAN-GP: critic with gradient penalty, `n_critic` critic steps per generator step."""
    return build_gan(
        WGANGP,
        input_shape,
        batch_size,
        latent_dim,
        0,
        g_filters,
        d_filters,
        kernel,
        gp_weight=gp_weight,
        n_critic=n_critic,
        name="wgan_gp",
    )


@register_model("cgan", tasks=("generate",), full=True)
def cgan(
    input_shape,
    task,
    n_outputs,
    batch_size=None,
    n_classes=2,
    latent_dim=16,
    g_filters=(32, 16),
    d_filters=(16, 32),
    kernel=5,
):
    """Conditional GAN (non-saturating loss): G(z, y), D(x, y) with learned label embeddings."""
    return build_gan(GAN, input_shape, batch_size, latent_dim, n_classes, g_filters, d_filters, kernel, name="cgan")
