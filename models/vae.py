"""Variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes"), β-VAE loss.

The encoder gives q(z|x) = N(μ, diag σ²) as (μ, log σ²); the reparameterization
z = μ + exp(½·log σ²)·ε, ε ~ N(0, I), makes sampling differentiable (`Sampling`); the decoder
gives x̂ = g(z). Training minimises the negative ELBO
  L = ‖x − x̂‖² + β·KL(q(z|x) ‖ N(0, I)),   KL = −½ Σ (1 + log σ² − μ² − σ²)
(unit-variance Gaussian likelihood up to a constant; β = 1 is the ELBO, β ≠ 1 the β-VAE of
Higgins et al. 2017). Encoder and decoder are separate deployable models: the encoder maps a
window to (μ, log σ²), the decoder generates a window from any z.
"""

import numpy as np

from prognos.models.kerasapi import keras, tf
from prognos.models.registry import register_model

L = keras.layers


@keras.utils.register_keras_serializable(package="prognos")
class Sampling(L.Layer):
    """z = μ + exp(½·log σ²)·ε when training; the posterior mean μ at inference (deterministic)."""

    def call(self, inputs, training=None):
        mu, log_var = inputs
        if not training:
            return mu
        return mu + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mu), dtype=mu.dtype)


@keras.utils.register_keras_serializable(package="prognos")
class VAE(keras.Model):
    """Encoder -> Sampling -> decoder, trained on the negative ELBO (metrics: loss, reconstruction, kl)."""

    def __init__(self, encoder, decoder, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.beta = encoder, decoder, float(beta)
        self.built = True  # its sub-models are built functional models: nothing left to build
        self.sampling = Sampling(name="sampling")
        self.trackers = [keras.metrics.Mean(name=n) for n in ("loss", "reconstruction", "kl")]

    def call(self, x, training=None):
        mu, log_var = self.encoder(x, training=training)
        return self.decoder(self.sampling([mu, log_var], training=training), training=training)

    @property
    def metrics(self):
        return self.trackers

    def elbo_terms(self, x, training):
        """(loss, reconstruction, kl) of a batch, each a batch mean; z is sampled (the ELBO estimate)."""
        mu, log_var = self.encoder(x, training=training)
        x_hat = self.decoder(self.sampling([mu, log_var], training=True), training=training)
        rec = tf.reduce_mean(tf.reduce_sum(tf.reshape(tf.square(x - x_hat), (tf.shape(x)[0], -1)), axis=1))
        kl = tf.reduce_mean(-0.5 * tf.reduce_sum(1.0 + log_var - tf.square(mu) - tf.exp(log_var), axis=1))
        return rec + self.beta * kl, rec, kl

    def _report(self, terms):
        for tracker, value in zip(self.trackers, terms):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}

    def train_step(self, data):
        x = tf.cast(keras.utils.unpack_x_y_sample_weight(data)[0], tf.float32)
        with tf.GradientTape() as tape:
            terms = self.elbo_terms(x, training=True)
        grads = tape.gradient(terms[0], self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._report(terms)

    def test_step(self, data):
        x = tf.cast(keras.utils.unpack_x_y_sample_weight(data)[0], tf.float32)
        return self._report(self.elbo_terms(x, training=False))

    def deployable_models(self):
        return {"encoder": self.encoder, "decoder": self.decoder}

    def get_config(self):
        return {
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)


def encoder_net(input_shape, widths, latent_dim, batch_size):
    inputs = keras.Input(input_shape, batch_size=batch_size, name="window")
    x = L.Flatten(name="flatten")(inputs)
    for i, w in enumerate(widths):
        x = L.Dense(w, activation="relu", name=f"enc_{i}")(x)
    mu = L.Dense(latent_dim, name="mu")(x)
    log_var = L.Dense(latent_dim, name="log_var")(x)
    return keras.Model(inputs, [mu, log_var], name="encoder")


def decoder_net(input_shape, widths, latent_dim, batch_size):
    z = keras.Input((latent_dim,), batch_size=batch_size, name="z")
    x = z
    for i, w in enumerate(reversed(widths)):
        x = L.Dense(w, activation="relu", name=f"dec_{i}")(x)
    x = L.Dense(int(np.prod(input_shape)), name="reconstruction")(x)
    return keras.Model(z, L.Reshape(input_shape, name="as_input")(x), name="decoder")


@register_model("vae", tasks=("reconstruct",), dims=(0, 1, 2), full=True)
def vae(input_shape, task, n_outputs, batch_size=None, widths=(64,), latent_dim=4, beta=1.0):
    """Dense VAE: encoder widths -> (μ, log σ²) of `latent_dim` -> sampled z -> mirrored decoder."""
    return VAE(
        encoder_net(input_shape, widths, latent_dim, batch_size),
        decoder_net(input_shape, widths, latent_dim, batch_size),
        beta=beta,
        name="vae",
    )
