"""The merged layout: an ensemble's LSTM members as one block-diagonal DenseLSTM computes the ensemble."""

import numpy as np
import pytest

from prognos.export.anatomy import anatomy
from prognos.export.convert import to_tflite
from prognos.export.merge import merge_lstms, mergeable
from prognos.export.parity import tflite_outputs
from prognos.models.kerasapi import keras
from prognos.pipeline.rul.ensemble import build_ensemble

L = keras.layers


def _lstm(units: int, window: int):
    x = keras.Input((window, 3))
    y = L.Dense(4, activation="relu", name="dense")(L.Dropout(0.1)(L.LSTM(units, name="lstm_0")(x)))
    return keras.Model(x, L.Dense(1, name="rul")(y), name="lstm")


def _cnn(window: int):
    x = keras.Input((window, 3))
    return keras.Model(x, L.Dense(1, name="rul")(L.GlobalAveragePooling1D()(L.Conv1D(4, 3)(x))), name="cnn")


@pytest.fixture(scope="module")
def ensemble():
    keras.utils.set_random_seed(0)
    members = [_lstm(6, 12), _cnn(10), _lstm(3, 12)]
    model = build_ensemble(members, [12, 10, 12])
    for layer in model.layers:  # non-zero biases: every gate's weights must land in their place
        for w in layer.weights:
            if "bias" in w.name:
                w.assign(np.random.default_rng(1).normal(0, 0.5, w.shape))
    return model


def test_merged_model_computes_the_ensemble(ensemble):
    x = np.random.default_rng(0).normal(size=(16, 12, 3)).astype(np.float32)
    merged = merge_lstms(ensemble)
    names = [type(layer).__name__ for layer in merged.layers]
    assert names.count("DenseLSTM") == 1 and "LSTM" not in names  # both LSTMs in one block
    np.testing.assert_allclose(merged.predict(x, verbose=0), ensemble.predict(x, verbose=0), atol=1e-5)
    assert mergeable(ensemble) and not mergeable(_lstm(4, 12)) and not mergeable(_cnn(10))


def test_merged_tflite_has_half_the_operators_and_the_same_outputs(ensemble):
    x = np.random.default_rng(2).normal(size=(4, 12, 3)).astype(np.float32)
    dense, merged = (to_tflite(ensemble, "fp32", rnn=r, strip=True) for r in ("dense", "merged"))
    got = tflite_outputs(merged, {"window": x}, ["rul"])[0][0]
    np.testing.assert_allclose(got, ensemble.predict(x, verbose=0), atol=1e-5)
    assert anatomy(merged)["operators"] < 0.6 * anatomy(dense)["operators"]
