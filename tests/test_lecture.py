"""The lecture's hand computations (models.lecture) against Keras / TensorFlow, to float tolerance."""

import numpy as np
import pytest

from prognos.models.kerasapi import keras, tf
from prognos.models.lecture import approximation, backprop, convolution, gradients, optimizers, recurrent

RNG = np.random.default_rng(0)


def _mlp():
    return backprop.TwoLayerMLP(
        W=RNG.normal(0, 1, (3, 2)), b=RNG.normal(0, 1, 3), U=RNG.normal(0, 1, (2, 3)), c=RNG.normal(0, 1, 2)
    )


def test_backprop_by_hand_equals_autodiff():
    net, x, target = _mlp(), np.array([0.3, -1.2]), np.array([1.0, 0.0])
    hand = net.gradients(x, target)
    params = {k: tf.Variable(getattr(net, k)) for k in ("W", "b", "U", "c")}
    with tf.GradientTape() as tape:
        y = tf.sigmoid(tf.linalg.matvec(params["W"], x) + params["b"])
        z = tf.sigmoid(tf.linalg.matvec(params["U"], y) + params["c"])
        loss = tf.reduce_sum((z - target) ** 2)
    auto = dict(zip(params, tape.gradient(loss, list(params.values()))))
    for k in params:
        np.testing.assert_allclose(hand[k], auto[k].numpy(), rtol=1e-10, atol=1e-12)
    numeric = backprop.numerical_gradient(lambda: net.loss(x, target), net.U)
    np.testing.assert_allclose(hand["U"], numeric, rtol=1e-5, atol=1e-9)


def test_backprop_steps_learn_xor():
    rng = np.random.default_rng(3)
    net = backprop.TwoLayerMLP(rng.normal(0, 1, (4, 2)), np.zeros(4), rng.normal(0, 1, (1, 4)), np.zeros(1))
    data = [(np.array(x, float), np.array([t], float)) for x, t in (([0, 0], 0), ([0, 1], 1), ([1, 0], 1), ([1, 1], 0))]
    for _ in range(4000):
        for x, t in data:
            net.step(x, t, lr=0.5)
    assert [round(float(net.forward(x)[1][0])) for x, _ in data] == [0, 1, 1, 0]


def _keras_path(optimizer, A, b, theta0, steps):
    theta = tf.Variable(theta0)
    path = [theta0.copy()]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = 0.5 * tf.tensordot(theta, tf.linalg.matvec(A, theta), 1) - tf.tensordot(b, theta, 1)
        optimizer.apply_gradients([(tape.gradient(loss, theta), theta)])
        path.append(theta.numpy().copy())
    return np.stack(path)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_optimizers_step_for_step_as_keras(name):
    A, b, theta0 = np.array([[3.0, 0.5], [0.5, 1.0]]), np.array([1.0, -2.0]), np.array([2.0, 2.0])
    _, grad = optimizers.quadratic(A, b)
    f32 = lambda v: float(np.float32(v))  # noqa: E731  Keras stores its hyper-parameters in float32
    hand = {
        "sgd": lambda: optimizers.gradient_descent(grad, theta0, f32(0.1), 25),
        "momentum": lambda: optimizers.momentum(grad, theta0, f32(0.1), 25, mu=f32(0.9)),
        "adam": lambda: optimizers.adam(grad, theta0, f32(0.1), 25, f32(0.9), f32(0.999), eps=1e-12),
    }[name]()
    opt = {
        "sgd": lambda: keras.optimizers.SGD(0.1),
        "momentum": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
        # Keras adds ε to √v before the bias correction (the paper's "ε̂" form), the slides to √v̂:
        # with a negligible ε both are the same update
        "adam": lambda: keras.optimizers.Adam(0.1, epsilon=1e-12),
    }[name]()
    # Keras computes Adam's bias correction 1 − β₂ᵗ in float32 (cancellation: ~1e-5 relative at t = 1);
    # dropping the correction or the second moment would be off by whole percent
    tol = 1e-4 if name == "adam" else 1e-9
    np.testing.assert_allclose(hand, _keras_path(opt, A, b, theta0, 25), rtol=tol, atol=tol)


def test_gradient_descent_converges_to_the_minimum_of_the_quadratic():
    A, b = np.array([[3.0, 0.5], [0.5, 1.0]]), np.array([1.0, -2.0])
    path = optimizers.gradient_descent(optimizers.quadratic(A, b)[1], np.zeros(2), 0.3, 200)
    np.testing.assert_allclose(path[-1], np.linalg.solve(A, b), atol=1e-8)


def test_lstm_gates_by_hand_equal_a_keras_lstm():
    layer = keras.layers.LSTM(5, return_sequences=True)
    xs = RNG.normal(0, 1, (7, 3)).astype("float32")
    keras_h = layer(xs[None]).numpy()[0]
    kernel, recurrent_kernel, bias = (w.astype(float) for w in layer.get_weights())
    np.testing.assert_allclose(
        recurrent.lstm_sequence(xs.astype(float), kernel, recurrent_kernel, bias), keras_h, atol=1e-6
    )
    _, _, gates = recurrent.lstm_step(xs[0], np.zeros(5), np.zeros(5), kernel, recurrent_kernel, bias)
    assert set(gates) == {"input", "forget", "candidate", "output"}


def test_convolution_and_the_slides_max_pooling_example():
    x = RNG.normal(0, 1, (6, 7))
    k = RNG.normal(0, 1, (3, 2))
    keras_out = tf.nn.conv2d(x[None, :, :, None], k[:, :, None, None], strides=1, padding="VALID").numpy()[0, :, :, 0]
    np.testing.assert_allclose(convolution.conv2d(x, k), keras_out, atol=1e-12)
    slide = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], float)
    pooled, _ = convolution.max_pool(slide)
    np.testing.assert_array_equal(pooled, [[6, 8], [3, 4]])
    np.testing.assert_array_equal(pooled, tf.nn.max_pool2d(slide[None, :, :, None], 2, 2, "VALID").numpy()[0, :, :, 0])


def test_backprop_through_max_pooling_reaches_only_the_argmax():
    x = tf.Variable(RNG.normal(0, 1, (1, 4, 4, 1)))
    grad_out = RNG.normal(0, 1, (2, 2))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.max_pool2d(x, 2, 2, "VALID")[0, :, :, 0] * grad_out)
    auto = tape.gradient(loss, x).numpy()[0, :, :, 0]
    _, mask = convolution.max_pool(x.numpy()[0, :, :, 0])
    hand = convolution.max_pool_backward(grad_out, mask)
    np.testing.assert_allclose(hand, auto, atol=1e-12)
    assert np.count_nonzero(hand) == 4  # one position per window


def test_vanishing_gradients_and_their_fixes():
    rng, depth, width = np.random.default_rng(0), 10, 32
    x = rng.normal(0, 1, (64, width))
    sig = gradients.layer_gradient_norms(gradients.init_weights(depth, width, "xavier", rng), x, "sigmoid")
    assert sig[0] / sig[-1] < 1e-3  # sigmoid: the first layer gets a tiny fraction of the last layer's gradient
    relu = gradients.layer_gradient_norms(gradients.init_weights(depth, width, "he", rng), x, "relu")
    res = gradients.layer_gradient_norms(
        gradients.init_weights(depth, width, "xavier", rng), x, "sigmoid", residual=True
    )
    norm = gradients.layer_gradient_norms(
        gradients.init_weights(depth, width, "xavier", rng), x, "sigmoid", normalize=True
    )
    for fixed in (relu, res, norm):
        assert fixed[0] / fixed[-1] > 100 * sig[0] / sig[-1]


def test_layer_gradients_equal_autodiff():
    rng = np.random.default_rng(1)
    weights, x = gradients.init_weights(4, 6, "xavier", rng), rng.normal(0, 1, (5, 6))
    for kwargs in (
        {"activation": "sigmoid"},
        {"activation": "relu", "residual": True},
        {"activation": "tanh", "normalize": True},
    ):
        ws = [tf.Variable(w) for w in weights]
        act = {"sigmoid": tf.sigmoid, "relu": tf.nn.relu, "tanh": tf.tanh}[kwargs["activation"]]
        with tf.GradientTape() as tape:
            h = tf.constant(x)
            for w in ws:
                a = tf.matmul(h, w, transpose_b=True)
                if kwargs.get("normalize"):
                    mu, var = tf.nn.moments(a, axes=[0])
                    a = (a - mu) / (tf.sqrt(var) + 1e-5)
                h = h + act(a) if kwargs.get("residual") else act(a)
            loss = 0.5 * tf.reduce_sum(h**2)
        auto = [np.linalg.norm(g.numpy()) for g in tape.gradient(loss, ws)]
        np.testing.assert_allclose(gradients.layer_gradient_norms(weights, x, **kwargs), auto, rtol=1e-6)


def test_universal_approximation_width_reaches_epsilon():
    errors, width = approximation.width_for_epsilon(lambda x: np.sin(2 * np.pi * x) + 0.5 * x, eps=0.01)
    assert width is not None and errors[2] > 0.1 and errors[width] < 0.01
    assert errors[max(errors)] < errors[min(errors)]


def test_deep_beats_wide_on_a_compositional_function():
    x = np.linspace(0, 1, 8 * 64 + 1)
    for depth in (1, 2, 3, 4):
        assert approximation.linear_pieces(approximation.deep_tent(x, depth)) == 2**depth  # 2·depth ReLU units


def test_he_and_xavier_initialization_per_layer():
    rng, depth, width = np.random.default_rng(0), 20, 64
    x = rng.normal(0, 1, (256, width))
    rms = {
        s: gradients.preactivation_rms(gradients.init_weights(depth, width, s, rng), x, "relu")
        for s in ("he", "xavier", "small")
    }
    assert 0.5 < rms["he"][-1] / rms["he"][0] < 2  # He: the signal keeps its scale through 20 ReLU layers
    assert rms["xavier"][-1] / rms["xavier"][0] == pytest.approx(2 ** (-(depth - 1) / 2), rel=0.5)  # halves Var
    assert rms["small"][-1] < 1e-20
    # the schemes' standard deviations are Keras's HeNormal / GlorotNormal ones (square layers)
    for scheme, init in (("he", keras.initializers.HeNormal(0)), ("xavier", keras.initializers.GlorotNormal(0))):
        keras_std = float(np.std(init((256, 256))))
        assert gradients.init_weights(1, 256, scheme, rng)[0].std() == pytest.approx(keras_std, rel=0.02)


def test_wide_needs_exponentially_more_units_than_deep():
    x = np.linspace(0, 1, 8 * 64 + 1)
    for depth in (3, 4):
        y = approximation.deep_tent(x, depth)  # exact with 2·depth units in depth layers
        assert approximation.shallow_relu_fit(x, y, 2 * depth)[0] > 0.4  # one layer, the same number of units
        assert approximation.shallow_relu_fit(x, y, 2**depth)[0] < 1e-9  # one layer, a unit per linear piece
