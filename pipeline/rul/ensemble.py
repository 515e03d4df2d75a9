"""Averaged-output ensembles: scored out of fold from search results, built as one Keras model.

Averaging the outputs of k models with different errors lowers the variance part of the error
(Dietterich 2000; Krogh & Vedelsby 1995: ensemble error = mean member error - ambiguity). Whether it
pays is measured, not assumed: `score_ensemble` averages the members' out-of-fold predictions
(oof.npz of `prognos cv`; the folds are the same when the members share data.seed) and scores the
average like one CV candidate. `build_ensemble` wires k trained members into one functional model
(input: the longest member window; each member sees the last `window` steps of it through a
Cropping1D layer), so the ensemble converts to one TFLite / ONNX file and one bundle.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import ConfigError
from prognos.pipeline.rul.cv import plot_cv, summarize

ALIGNED = ("unit", "cycle", "true", "fold", "cut_unit", "cut_cycle", "cut_true", "cut_fold")


def shared_data(cv_dirs) -> bool:
    """Whether the CV runs share every [data] setting but the window: an ensemble bundle carries one
    preprocessing (features, smoothing, regimes), so only such members can be averaged on the device."""
    data = []
    for d in cv_dirs:
        path = Path(d) / "cv.json"
        if not path.is_file():
            raise ConfigError(f"{d}: no cv.json; run `prognos cv` or `prognos search` for it first")
        data.append({k: v for k, v in json.loads(path.read_text())["config"]["data"].items() if k != "window"})
    return all(d == data[0] for d in data[1:])


def load_oof(cv_dir) -> dict:
    path = Path(cv_dir) / "oof.npz"
    if not path.is_file():
        raise ConfigError(f"{cv_dir}: no oof.npz; run `prognos cv` (or search) for this candidate first")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def average_oof(cv_dirs) -> dict:
    """The members' out-of-fold predictions averaged; the members must share folds and windows."""
    members = [load_oof(d) for d in cv_dirs]
    first = members[0]
    for d, m in zip(cv_dirs[1:], members[1:]):
        for key in ALIGNED:
            if m[key].shape != first[key].shape or not np.array_equal(m[key], first[key]):
                raise ConfigError(
                    f"{d}: out-of-fold {key!r} differs from {cv_dirs[0]}'s; ensemble members "
                    "need the same data.seed, folds and min_cycles"
                )
    return {
        **first,
        "pred": np.mean([m["pred"] for m in members], 0),
        "cut_pred": np.mean([m["cut_pred"] for m in members], 0),
    }


def folds_of(oof: dict) -> list[dict]:
    """oof.npz arrays split back into per-fold dicts (the shape `pipeline.cv.summarize` takes)."""
    folds = []
    for i in np.unique(oof["fold"]):
        m, c = oof["fold"] == i, oof["cut_fold"] == i
        folds.append(
            {
                "unit": oof["unit"][m],
                "cycle": oof["cycle"][m],
                "pred": oof["pred"][m],
                "true": oof["true"][m],
                "cut_pred": oof["cut_pred"][c],
                "cut_true": oof["cut_true"][c],
            }
        )
    return folds


def score_ensemble(cv_dirs, coverage: float = 0.9, plots_to=None) -> dict:
    """CV metrics of the averaged members, next to each member's own (from its cv.json); with
    `plots_to`, also the CV plots of the average there (pipeline.cv.plot_cv)."""
    folds = folds_of(average_oof(cv_dirs))
    summary = summarize(folds, coverage)
    if plots_to is not None:
        plot_cv(folds, summary, Path(plots_to))
    cvs = [json.loads((Path(d) / "cv.json").read_text()) for d in cv_dirs]
    summary.update(
        members=[str(d) for d in cv_dirs],
        params=sum(c["params"] for c in cvs),
        member_test_rmse=[c["test_protocol"]["rmse_mean"] for c in cvs],
        member_rmse=[c["rmse_mean"] for c in cvs],
    )
    return summary


def build_ensemble(members, windows):
    """One model averaging `members` (Keras models on (window_i, F) inputs) on a (max window, F) input."""
    from prognos.models.kerasapi import keras

    L = keras.layers
    longest = max(windows)
    inputs = keras.Input((longest, members[0].input_shape[-1]), name="window")
    outputs = []
    for i, (member, w) in enumerate(zip(members, windows)):
        member._name = f"member{i}_{member.name}"
        x = L.Cropping1D((longest - w, 0), name=f"last{w}_{i}")(inputs) if w < longest else inputs
        outputs.append(member(x))
    out = L.Average(name="rul")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, out, name="ensemble")
