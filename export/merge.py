"""An ensemble's LSTM members merged into one block-diagonal DenseLSTM (the "merged" RNN layout).

An averaged ensemble (pipeline.rul.ensemble: window -> [crop] -> member_i -> Average) whose members
start with a plain LSTM reading the same window runs, unrolled, one set of per-step operators per
LSTM. Merged, the members' LSTMs become one DenseLSTM of sum(units) units with weights assembled
gate by gate: kernel and bias side by side, recurrent kernel block-diagonal (member m's hidden state
feeds only member m's gates), so it computes exactly the members' LSTMs, concatenated. Each member's
remaining layers then read its slice of the hidden state (`Take`). Per time step the file holds one
recurrent FULLY_CONNECTED and one set of gate operators instead of one per member: about half the
operators and tensors of the DenseLSTM layout with two LSTM members (smaller file, fewer
per-invoke operator costs); the zero blocks cost extra MACs and weight bytes.

Members that do not start with such an LSTM (a CNN, stacked LSTMs) are kept as they are; for any
other model (one member, no LSTM) the merged layout is the DenseLSTM one.
"""

from __future__ import annotations

import numpy as np

from prognos.models.dense_lstm import DenseLSTM, Take
from prognos.models.kerasapi import keras


def merge_lstms(model):
    """A model computing what `model` computes, its mergeable LSTM members as one DenseLSTM per window."""
    members, average = _members(model)
    if not members:  # nothing to merge: the DenseLSTM layout as it is
        return model
    inputs = keras.Input(model.input_shape[1:], name="window")
    crops, groups = {}, {}
    for i, (member, crop) in enumerate(members):
        if crop not in crops:
            crops[crop] = keras.layers.Cropping1D((crop, 0), name=f"crop{crop}")(inputs) if crop else inputs
        if _leading_lstm(member) is not None:
            groups.setdefault(crop, []).append(i)
    outputs = [None] * len(members)
    for crop, idx in groups.items():
        for i, y in zip(idx, _merged(crops[crop], [members[i][0] for i in idx], f"merged_lstm{crop}")):
            outputs[i] = y
    for i, (member, crop) in enumerate(members):
        if outputs[i] is None:
            outputs[i] = member(crops[crop])
    out = keras.layers.Average(name=average)(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, out, name=f"{model.name}_merged")


def mergeable(model) -> bool:
    """True if the merged layout changes something: two or more LSTM members read the same window."""
    crops = [crop for member, crop in _members(model)[0] if _leading_lstm(member) is not None]
    return any(crops.count(c) > 1 for c in crops)


def _members(model) -> tuple[list, str | None]:
    """[(member model, crop at the front)] of an averaged ensemble and the Average layer's name; a plain
    model is its own single member."""
    layers = {c["config"]["name"]: c for c in model.get_config()["layers"]}
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if not nested:
        return ([(model, 0)] if _leading_lstm(model) is not None else []), None
    out_layer = model.layers[-1]
    if not isinstance(out_layer, keras.layers.Average) or len(model.inputs) != 1:
        return [], None
    members = []
    for m in nested:
        source = layers[m.name]["inbound_nodes"][0][0][0]
        crop = layers[source]["config"]["cropping"] if layers[source]["class_name"] == "Cropping1D" else (0, 0)
        if crop[1]:
            return [], None
        members.append((m, int(crop[0])))
    return members, out_layer.name


def _chain(member) -> list | None:
    """The member's layers in order if each reads only the one before it (a chain), else None."""
    cfg = member.get_config()["layers"]
    for prev, cur in zip(cfg, cfg[1:]):
        nodes = cur.get("inbound_nodes") or []
        if len(nodes) != 1 or len(nodes[0]) != 1 or nodes[0][0][0] != prev["config"]["name"]:
            return None
    return [member.get_layer(c["config"]["name"]) for c in cfg]


def _leading_lstm(member):
    """The member's first layer after its input, if it is a plain LSTM returning its last state in a chain."""
    layers = _chain(member)
    if not layers or len(layers) < 2 or not isinstance(layers[1], keras.layers.LSTM):
        return None
    cfg = layers[1].get_config()
    plain = (cfg["activation"], cfg["recurrent_activation"], cfg["use_bias"]) == ("tanh", "sigmoid", True)
    flags = ("return_sequences", "go_backwards", "stateful", "return_state")
    return layers[1] if plain and not any(cfg.get(k) for k in flags) else None


def _merged(x, members: list, name: str) -> list:
    """The members' outputs on `x`, their leading LSTMs run as one DenseLSTM."""
    lstms = [_leading_lstm(m) for m in members]
    units = [layer.units for layer in lstms]
    merged = DenseLSTM(sum(units), name=name)
    h = merged(x)
    merged.set_weights(block_weights([layer.get_weights() for layer in lstms]))
    outs, start = [], 0
    for k, (member, u) in enumerate(zip(members, units)):
        y = Take(start, start + u, name=f"{name}_h{k}")(h)
        start += u
        for layer in _chain(member)[2:]:
            clone = layer.__class__.from_config({**layer.get_config(), "name": f"{member.name}_{layer.name}"})
            y = clone(y)
            clone.set_weights(layer.get_weights())
        outs.append(y)
    return outs


def block_weights(weights: list) -> list[np.ndarray]:
    """keras LSTM weights [kernel (F, 4u), recurrent (u, 4u), bias (4u)] of several LSTMs -> one LSTM's of
    sum(u) units: gates [i f c o] each holding every member's units in order; recurrent block-diagonal."""
    units = [w[1].shape[0] for w in weights]
    n, f = sum(units), weights[0][0].shape[0]
    kernel, recurrent, bias = np.zeros((f, 4 * n), np.float32), np.zeros((n, 4 * n), np.float32), np.zeros(4 * n)
    start = 0
    for (k, r, b), u in zip(weights, units):
        for g in range(4):
            cols, src = slice(g * n + start, g * n + start + u), slice(g * u, (g + 1) * u)
            kernel[:, cols], recurrent[start : start + u, cols], bias[cols] = k[:, src], r[:, src], b[src]
        start += u
    return [kernel, recurrent, bias.astype(np.float32)]
