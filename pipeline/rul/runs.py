"""A trained run folder -> what export is handed (`export.run.Trained`).

The model is loaded with the preprocessor saved next to it (preprocessor.json, the statistics it was
trained with), never refitted; the windows are re-cut from the run's own split (config.json).
"""

from __future__ import annotations

import json
from pathlib import Path

from prognos.edge_runtime.errors import DataError
from prognos.edge_runtime.features import Preprocessor
from prognos.export.run import Trained


def load_run(run_dir) -> Trained:
    """The trained Keras model of `run_dir`, its saved preprocessor and its training/validation windows."""
    from prognos.models.kerasapi import keras
    from prognos.pipeline.config import RunConfig
    from prognos.pipeline.rul.train import prepare

    run_dir = Path(run_dir)
    for name in ("model.keras", "config.json"):
        if not (run_dir / name).is_file():
            raise DataError(f"{run_dir}: no {name}; expected a trained run (make train RUN={run_dir})")
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    config = json.loads((run_dir / "config.json").read_text())
    config.pop("resolved_data", None)
    pre_path = run_dir / "preprocessor.json"
    saved = Preprocessor.from_dict(json.loads(pre_path.read_text())) if pre_path.is_file() else None
    pre, train, val, _ = prepare(RunConfig.from_dict(config), run_dir, saved)
    return Trained(model, pre, train, val, run_dir)
