"""Lecture checks of the model zoo: each asserts the number the lecture states.

Perceptron learns AND but not XOR; an MLP learns XOR; a depthwise-separable conv has 1/N + 1/D_K²
of a standard conv's weights (1/N + 1/k on windows); EfficientNet B1/B2 follow from B0 by
d = α^φ, w = β^φ; ResNet depth formulas; ViT token counts; VAE ELBO terms; GAN losses and the
WGAN-GP gradient penalty in closed form; the autoencoder anomaly score.
"""

import math

import numpy as np
import pytest

from prognos.models import create_model, deployables
from prognos.models.autoencoder import anomaly_score, reconstruction_mse
from prognos.models.conv import Grid, make_divisible
from prognos.models.efficientnet import B0_BLOCKS, compound_scaling, round_filters, scaled_blocks
from prognos.models.gan import WGANGP
from prognos.models.kerasapi import keras, tf
from prognos.models.mobilenet import depthwise_separable
from prognos.models.resnet import RESNETS

X2 = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
AND = np.array([-1, -1, -1, 1], dtype="float32")
XOR = np.array([-1, 1, 1, -1], dtype="float32")


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def _perceptron_history(labels, epochs):
    model = create_model("perceptron", (2,), task="binary", learning_rate=1.0)
    model.compile()
    history = model.fit(X2, labels, batch_size=1, epochs=epochs, shuffle=False, verbose=0).history
    return model, np.array(history["errors"])


def test_perceptron_learns_and():
    model, errors = _perceptron_history(AND, epochs=20)
    assert errors[-1] == 0.0  # a full pass without a single update: converged (Novikoff)
    np.testing.assert_array_equal(model.predict(X2, verbose=0)[:, 0], AND)


def test_perceptron_cannot_fit_xor():
    model, errors = _perceptron_history(XOR, epochs=50)
    assert errors.min() >= 0.25  # every epoch at least one of the four points was wrong
    accuracy = np.mean(model.predict(X2, verbose=0)[:, 0] == XOR)
    assert accuracy <= 0.75


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_mlp_learns_xor(activation):
    model = create_model("mlp", (2,), task="classify", n_outputs=2, widths=(8,), activation=activation)
    model.compile(keras.optimizers.Adam(0.1), loss="sparse_categorical_crossentropy")
    labels = (XOR > 0).astype("int32")
    model.fit(np.tile(X2, (8, 1)), np.tile(labels, 8), batch_size=32, epochs=100, verbose=0)
    probs = model.predict(X2, verbose=0)
    np.testing.assert_array_equal(probs.argmax(axis=1), labels)
    assert probs[np.arange(4), labels].min() > 0.9


def _conv_weights(model):
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
    return sum(layer.count_params() for layer in model.layers if isinstance(layer, kinds))


@pytest.mark.parametrize(
    "one_d,shape,expected_ratio",
    [
        (False, (8, 8, 8), 1 / 16 + 1 / 3**2),  # D_K = 3: 1/N + 1/D_K²
        (True, (1, 16, 8), 1 / 16 + 1 / 3),  # (1, 3) kernels: 1/N + 1/k
    ],
)
def test_depthwise_separable_weight_ratio(one_d, shape, expected_ratio):
    n_out, grid = 16, Grid(one_d)
    inputs = keras.Input(shape)
    separable = keras.Model(inputs, depthwise_separable(inputs, grid, n_out, k=3))
    standard = keras.Model(inputs, keras.layers.Conv2D(n_out, grid.size(3), use_bias=False)(inputs))
    assert _conv_weights(standard) == 3 ** (1 if one_d else 2) * shape[-1] * n_out
    assert _conv_weights(separable) / _conv_weights(standard) == pytest.approx(expected_ratio, rel=1e-12)


def test_mobilenet_width_multiplier_scales_weights_by_alpha_squared():
    weights = {a: _conv_weights(create_model("mobilenet_v1", (16, 3), alpha=a)) for a in (0.5, 1.0)}
    assert weights[0.5] / weights[1.0] == pytest.approx(0.25, rel=0.02)
    model = create_model("mobilenet_v1", (16, 3), alpha=0.5)
    kernels = [layer.kernel_size for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert kernels == [(1, 3)] * 13


def test_efficientnet_compound_scaling_from_b0():
    b1, b2 = compound_scaling(1), compound_scaling(2)
    assert (b1.depth, b1.width, b1.resolution) == pytest.approx((1.2, 1.1, 1.15))
    assert (b2.depth, b2.width, b2.resolution) == pytest.approx((1.44, 1.21, 1.3225))
    assert 1.2 * 1.1**2 * 1.15**2 == pytest.approx(1.92, abs=0.01)  # α·β²·γ² ≈ 2
    assert [b.repeats for b in B0_BLOCKS] == [1, 2, 2, 3, 3, 4, 1]
    assert [b.repeats for b in scaled_blocks(1)] == [2, 3, 3, 4, 4, 5, 2]  # ceil(1.2·n)
    assert [b.repeats for b in scaled_blocks(2)] == [2, 3, 3, 5, 5, 6, 2]  # ceil(1.44·n)
    assert [b.filters for b in scaled_blocks(1)] == [16, 24, 48, 88, 120, 208, 352]  # 8-rounded 1.1·f
    assert [b.filters for b in scaled_blocks(2)] == [24, 32, 48, 96, 136, 232, 384]  # 8-rounded 1.21·f
    unchanged = ("expand", "kernel", "stride", "se_ratio")
    for phi in (1, 2):
        for base, scaled in zip(B0_BLOCKS, scaled_blocks(phi)):
            assert [getattr(scaled, f) for f in unchanged] == [getattr(base, f) for f in unchanged]


@pytest.mark.parametrize("phi", [1, 2])
def test_efficientnet_network_follows_its_table(phi):
    model = create_model(f"efficientnet_b{phi}", (16, 3))
    blocks = scaled_blocks(phi, base_width=0.25)
    depthwise = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert len(depthwise) == sum(b.repeats for b in blocks)
    for s, block in enumerate(blocks, 1):
        for r in range(1, block.repeats + 1):
            assert model.get_layer(f"stage{s}_block{r}_project_conv").filters == block.filters
    width = 0.25 * compound_scaling(phi).width
    assert model.get_layer("head_conv").filters == round_filters(1280, width)


def test_make_divisible_rounds_to_eight_keeping_ninety_percent():
    assert [make_divisible(v) for v in (4, 12, 17.6, 19.36, 123.2)] == [8, 16, 16, 24, 120]


@pytest.mark.parametrize("name", sorted(RESNETS))
def test_resnet_depth_formula(name):
    spec = RESNETS[name]
    assert spec.depth == int(name[len("resnet") :].rstrip("b"))
    model = create_model(name, (16, 3))
    convs = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and not layer.name.endswith("_proj_conv")
    ]
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(convs) + 1 == spec.depth  # + the head's dense layer
    assert len(adds) == sum(spec.repeats)  # one y = F(x) + x per block


@pytest.mark.parametrize("shape,tokens", [((16, 3), 1 + 16 // 4), ((16, 16, 1), 1 + (16 // 4) ** 2)])
def test_vit_tokens_and_position_embedding(shape, tokens):
    model = create_model("vit", shape, patch=4, dim=8, heads=2, depth=1)
    assert model.get_layer("position_embedding").positions.shape == (1, tokens, 8)
    assert model.get_layer("class_token").token.shape == (1, 1, 8)
    assert model.get_layer("block1_msa")._num_heads == 2


@pytest.mark.parametrize("kind", ["simple_rnn", "gru", "lstm"])
def test_rnn_unroll_and_stacking_pass_through(kind):
    model = create_model(kind, (16, 3), units=(8, 4), unroll=True)
    layers = [model.get_layer(f"{kind}_{i}") for i in range(2)]
    assert [layer.unroll for layer in layers] == [True, True]
    assert [layer.return_sequences for layer in layers] == [True, False]


def test_reconstruction_mse_is_per_window_mean():
    x = np.zeros((2, 4, 3))
    x_hat = np.stack([np.ones((4, 3)), np.full((4, 3), 2.0)])
    np.testing.assert_allclose(reconstruction_mse(x, x_hat), [1.0, 4.0])


def _sines(n, rng, length=16, channels=3):
    t = np.arange(length)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, channels))
    return np.sin(2 * np.pi * t / 8 + phase).astype("float32")


def test_autoencoder_scores_unseen_windows_higher():
    rng = np.random.default_rng(0)
    healthy = _sines(512, rng)
    model = create_model("dense_ae", (16, 3), task="reconstruct", widths=(32,), code=8)  # 3 phases: 6 dof
    model.compile(keras.optimizers.Adam(3e-3), loss="mse")
    model.fit(healthy, healthy, batch_size=64, epochs=40, verbose=0)
    normal = anomaly_score(model, _sines(64, rng))
    faulty = anomaly_score(model, _sines(64, rng) + rng.normal(0, 0.5, (64, 16, 3)).astype("float32"))
    assert np.median(faulty) > 20 * np.median(normal)
    assert faulty.min() > normal.max()  # a threshold separates every noisy window from every healthy one


def test_vae_sampling_and_elbo_terms():
    model = create_model("vae", (16, 3), task="reconstruct", widths=(16,), latent_dim=2, beta=0.5)
    mu, log_var = tf.fill((20000, 2), 1.5), tf.fill((20000, 2), math.log(0.25))
    z = model.sampling([mu, log_var], training=True).numpy()
    assert z.mean() == pytest.approx(1.5, abs=0.02) and z.std() == pytest.approx(0.5, abs=0.02)
    np.testing.assert_array_equal(model.sampling([mu, log_var], training=False), mu)
    x = _sines(8, np.random.default_rng(1))
    loss, rec, kl = (float(t) for t in model.elbo_terms(tf.constant(x), training=False))
    m, lv = (np.asarray(t, np.float64) for t in model.encoder(x))
    expected_kl = np.mean(-0.5 * np.sum(1 + lv - m**2 - np.exp(lv), axis=1))
    assert kl == pytest.approx(expected_kl, rel=1e-4)
    assert loss == pytest.approx(rec + 0.5 * kl, rel=1e-5)
    encoder, decoder = deployables(model)["encoder"], deployables(model)["decoder"]
    assert [tuple(o.shape) for o in encoder.outputs] == [(None, 2), (None, 2)]
    assert tuple(decoder(np.zeros((5, 2), "float32")).shape) == (5, 16, 3)


def test_vae_fit_lowers_negative_elbo():
    model = create_model("vae", (16, 3), task="reconstruct", widths=(32,), latent_dim=8)
    model.compile(keras.optimizers.Adam(3e-3))
    history = model.fit(_sines(256, np.random.default_rng(2)), epochs=15, batch_size=32, verbose=0).history
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    assert history["reconstruction"][-1] < 0.5 * history["reconstruction"][0]
    assert set(history) == {"loss", "reconstruction", "kl"}


def _zero_discriminator(model):
    for var in model.discriminator.trainable_variables:
        var.assign(tf.zeros_like(var))


@pytest.mark.parametrize("name", ["gan", "cgan"])
def test_gan_losses_at_an_undecided_discriminator(name):
    model = create_model(name, (16, 3), task="generate")
    _zero_discriminator(model)  # D(x) = σ(0) = ½ for every input
    x, z = _sines(8, np.random.default_rng(3)), tf.random.normal((8, model.latent_dim))
    labels = tf.constant([[0], [1]] * 4) if model.n_classes else None
    assert float(model.discriminator_loss(x, z, labels)) == pytest.approx(2 * math.log(2), rel=1e-6)
    assert float(model.generator_loss(z, labels)) == pytest.approx(math.log(2), rel=1e-6)


def test_cgan_generator_depends_on_label():
    model = create_model("cgan", (16, 3), task="generate", n_classes=3)
    z = tf.repeat(tf.random.normal((1, model.latent_dim)), 3, axis=0)
    windows = model([z, tf.constant([[0], [1], [2]])], training=False).numpy()
    assert np.abs(windows[0] - windows[1]).max() > 1e-3 and np.abs(windows[1] - windows[2]).max() > 1e-3


def test_wgan_gp_penalty_of_a_linear_critic():
    model = create_model("wgan_gp", (16, 3), task="generate")
    inputs = keras.Input((16, 3))
    critic = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    w = np.random.default_rng(4).normal(size=(48, 1)).astype("float32")
    critic.layers[-1].set_weights([w, np.zeros(1, "float32")])
    linear = WGANGP(model.generator, critic, model.latent_dim)
    real, fake = (tf.random.normal((8, 16, 3)) for _ in range(2))
    # ∇_x D = w everywhere, so the penalty is (‖w‖ − 1)² whatever the interpolates
    assert float(linear.gradient_penalty(real, fake, None)) == pytest.approx((np.linalg.norm(w) - 1) ** 2, rel=1e-5)


@pytest.mark.parametrize("name,hparams", [("gan", {}), ("wgan_gp", {"n_critic": 2}), ("cgan", {})])
def test_gan_fit_runs_compiled_and_moves_the_generator(name, hparams):
    model = create_model(name, (16, 3), task="generate", **hparams)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    before = [v.numpy() for v in model.generator.trainable_variables]
    x = _sines(64, np.random.default_rng(5))
    labels = np.random.default_rng(6).integers(0, 2, 64)
    history = model.fit(x, labels if model.n_classes else None, batch_size=32, epochs=1, verbose=0).history
    assert np.isfinite([history["d_loss"][0], history["g_loss"][0]]).all()
    moved = [np.abs(a - v.numpy()).max() for a, v in zip(before, model.generator.trainable_variables)]
    assert min(moved) > 0
    samples = model(model.latent(4, labels=[0, 1, 0, 1] if model.n_classes else None), training=False)
    assert samples.shape == (4, 16, 3) and np.isfinite(samples).all()
