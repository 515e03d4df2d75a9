"""models.macs against MACs computed by hand from the formulas in its docstring."""

import pytest

from prognos.models import deployables, list_models
from prognos.models.registry import get_entry
from prognos.models.dense_lstm import DenseLSTM
from prognos.models.kerasapi import keras
from prognos.models.macs import count_macs, mac_count

L = keras.layers


def functional(shape, *layers):
    x = inputs = keras.Input(shape)
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize(
    "shape, layer, expected",
    [
        ((14,), L.Dense(3), 14 * 3),
        ((5, 14), L.Dense(3), 5 * 14 * 3),  # applied per position
        ((1, 30, 14), L.Conv2D(8, (1, 3), padding="same"), 30 * 3 * 14 * 8),  # height-1 conv, 'same'
        ((1, 30, 14), L.Conv2D(8, (1, 3), strides=(1, 2), padding="valid"), 14 * 3 * 14 * 8),
        ((6, 6, 2), L.Conv2D(4, 3), 4 * 4 * 9 * 2 * 4),
        ((30, 14), L.Conv1D(8, 5, padding="same"), 30 * 5 * 14 * 8),
        ((1, 30, 14), L.DepthwiseConv2D((1, 3), padding="same", depth_multiplier=2), 30 * 3 * 14 * 2),
        ((1, 30, 14), L.SeparableConv2D(8, (1, 3), padding="same"), 30 * (3 * 14 + 14 * 8)),
        ((1, 15, 4), L.Conv2DTranspose(2, (1, 3), strides=(1, 2), padding="same"), 15 * 3 * 4 * 2),
        ((30, 14), L.SimpleRNN(8), 30 * (14 * 8 + 8 * 8)),
        ((30, 14), L.LSTM(8), 30 * 4 * (14 * 8 + 8 * 8)),
        ((30, 14), L.GRU(8), 30 * 3 * (14 * 8 + 8 * 8)),
        ((30, 14), DenseLSTM(8), 30 * 4 * 8 * 14 + 29 * 4 * 8 * 8),
        ((30, 14), L.BatchNormalization(), 0),
    ],
)
def test_layer_macs_match_hand_count(shape, layer, expected):
    result = mac_count(functional(shape, layer))
    assert result.total == expected and not result.unknown


def test_attention_counts_projections_and_both_products():
    x = keras.Input((9, 16))
    model = keras.Model(x, L.MultiHeadAttention(2, 8)(x, x))
    # q, k, v projections 3·(9·16·2·8), QKᵀ and AV 2·9·9·8, output 9·2·8·16
    assert count_macs(model) == 3 * 9 * 16 * 16 + 2 * 9 * 9 * 16 + 9 * 16 * 16


def test_nested_models_and_tfmot_wrappers_are_counted_inside():
    from prognos.models.kerasapi import load_tfmot

    inner = functional((14,), L.Dense(8), L.Dense(2))
    outer = functional((14,), inner, L.Dense(1))
    assert count_macs(outer) == 14 * 8 + 8 * 2 + 2
    pruned = load_tfmot().sparsity.keras.prune_low_magnitude(functional((14,), L.Dense(8)))
    assert count_macs(pruned) == 14 * 8


class Mystery(L.Layer):
    def call(self, x):
        return x * 2.0


def test_unknown_layer_is_listed_and_logged(caplog):
    model = functional((14,), Mystery(name="mystery"), L.Dense(3))
    assert mac_count(model).unknown == ["mystery (Mystery)"]
    assert count_macs(model) == 14 * 3
    assert "mystery (Mystery)" in caplog.text


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_model_is_fully_counted(name):
    from tests.test_zoo import built  # the zoo's tiny models, cached across test files

    dims = 1 if 1 in get_entry(name).dims else 2
    for net in deployables(built(name, dims)).values():
        result = mac_count(net)
        assert result.total > 0 and not result.unknown, (net.name, result.unknown)
