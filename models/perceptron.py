"""Rosenblatt's perceptron (Rosenblatt 1958): o = sign(w·x + b), trained by the perceptron rule.

For a misclassified sample, y·(w·x + b) <= 0 with labels y in {-1, +1}:  w <- w + η·y·x,  b <- b + η·y.
With batch_size=1 this is Rosenblatt's online rule; a larger batch adds the updates of its
misclassified samples (the batch perceptron: gradient descent on J = Σ_misclassified -y·(w·x + b)).
Novikoff (1962): on linearly separable data (AND) it stops after finitely many updates. XOR is not
linearly separable (Minsky & Papert 1969): every line leaves at least one of its four points wrong.
"""

from prognos.edge_runtime.errors import ConfigError
from prognos.models.kerasapi import keras, tf
from prognos.models.registry import register_model


@keras.utils.register_keras_serializable(package="prognos")
class SignStep(keras.layers.Layer):
    """The threshold unit: +1 where s > 0, else -1."""

    def call(self, s):
        return tf.where(s > 0, tf.ones_like(s), -tf.ones_like(s))


@keras.utils.register_keras_serializable(package="prognos")
class Perceptron(keras.Model):
    """Wraps `net` (input -> Flatten -> Dense "score" -> SignStep); trains it with the perceptron rule.

    `compile()` needs no optimizer or loss: the update is the rule above. Labels may be {-1, +1} or
    {0, 1} (0 is read as -1). Metrics: loss = mean perceptron criterion max(0, -y·s) before the
    update, errors = fraction of the batch with y·s <= 0.
    """

    def __init__(self, net, learning_rate=1.0, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.learning_rate = float(learning_rate)
        self.built = True  # its sub-models are built functional models: nothing left to build
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.error_tracker = keras.metrics.Mean(name="errors")

    def call(self, x):
        return self.net(x)

    @property
    def metrics(self):
        return [self.loss_tracker, self.error_tracker]

    def _forward(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = tf.reshape(tf.cast(x, tf.float32), (tf.shape(x)[0], -1))
        y = tf.where(tf.reshape(tf.cast(y, tf.float32), (-1, 1)) > 0, 1.0, -1.0)
        return x, y, self.net.get_layer("score")(x)

    def _report(self, y, s):
        self.loss_tracker.update_state(tf.reduce_mean(tf.nn.relu(-y * s)))
        self.error_tracker.update_state(tf.reduce_mean(tf.cast(y * s <= 0, tf.float32)))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, y, s = self._forward(data)
        step = self.learning_rate * y * tf.cast(y * s <= 0, tf.float32)  # η·y on misclassified, else 0
        score = self.net.get_layer("score")
        score.kernel.assign_add(tf.matmul(x, step, transpose_a=True))
        score.bias.assign_add(tf.reduce_sum(step, axis=0))
        return self._report(y, s)

    def test_step(self, data):
        _, y, s = self._forward(data)
        return self._report(y, s)

    def deployable_models(self):
        return {"perceptron": self.net}

    def get_config(self):
        return {
            "net": keras.saving.serialize_keras_object(self.net),
            "learning_rate": self.learning_rate,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        net = keras.saving.deserialize_keras_object(config.pop("net"))
        return cls(net, **config)


@register_model("perceptron", tasks=("binary",), dims=(0, 1, 2), full=True)
def perceptron(input_shape, task, n_outputs, batch_size=None, learning_rate=1.0, init_scale=0.01):
    """Single linear threshold unit on the flattened input, trained with the perceptron rule."""
    if n_outputs != 1:
        raise ConfigError(f"perceptron has one threshold unit (task 'binary'): n_outputs must be 1, got {n_outputs}")
    inputs = keras.Input(input_shape, batch_size=batch_size, name="window")
    init = keras.initializers.RandomNormal(stddev=init_scale)
    score = keras.layers.Dense(1, kernel_initializer=init, name="score")(keras.layers.Flatten()(inputs))
    net = keras.Model(inputs, SignStep(name="decision")(score), name="perceptron_net")
    return Perceptron(net, learning_rate=learning_rate, name="perceptron")
