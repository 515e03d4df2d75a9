"""`prognos evaluate`: last-window RUL predictions for test units, from a bundle or a Keras run.

With a RUL file (one integer per line, in unit order) it reports RMSE and the NASA score against
the true RUL capped at the model's rul_cap (the usual FD001 protocol); without one it lists the
predictions. Only the files named on the command line are read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import ConfigError, DataError
from prognos.edge_runtime.features import Preprocessor
from prognos.pipeline.data import cmapss
from prognos.pipeline.data.dataset import last_windows
from prognos.edge_runtime.scoring import rul_metrics


def _predictor(bundle: str | None, run: str | None):
    if bool(bundle) == bool(run):
        raise ConfigError("evaluate: give exactly one of --bundle (a bundle directory) or --run (a training run)")
    if bundle:
        from prognos.edge_runtime.bundle import Bundle

        b = Bundle(bundle)
        return b.preprocessor, b.predict
    run_dir = Path(run)
    for name in ("model.keras", "preprocessor.json"):
        if not (run_dir / name).is_file():
            raise DataError(f"{run_dir}: no {name}; expected a trained run folder (prognos train --run {run_dir})")
    from prognos.models.kerasapi import keras

    pre = Preprocessor.from_dict(json.loads((run_dir / "preprocessor.json").read_text()))
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    return pre, lambda x: model.predict(x, verbose=0)[:, 0] * pre.rul_cap


def evaluate(test_file, rul_file=None, bundle=None, run=None) -> dict:
    pre, predict = _predictor(bundle, run)
    units, x = last_windows(cmapss.load_table(test_file), pre)
    pred = predict(x)
    result = {
        "test_file": str(test_file),
        "units": len(units),
        "predictions": {int(u): round(float(p), 2) for u, p in zip(units, pred)},
    }
    if rul_file:
        true = np.minimum(cmapss.load_rul_file(rul_file, len(units)), pre.rul_cap)
        result["metrics"] = rul_metrics(pred, true)
    return result
