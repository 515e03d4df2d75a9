"""A trained vibration run folder -> its validation model inputs, re-cut from the run's own split.

What `prognos mcu` hands export.mcu for the TFLM-vs-LiteRT parity of a vibration bundle: the run's
config and data source (metrics.json), the same time-segment split as training (cwru.split_windows)
and the bundle's own DspSpec (the statistics the model was trained with, never refitted).
"""

from __future__ import annotations

import json
from pathlib import Path

from prognos.edge_runtime.dsp_spec import DspSpec, apply_many
from prognos.edge_runtime.errors import DataError
from prognos.pipeline.data.cwru import load_folder, split_windows
from prognos.pipeline.vibration.train import LABELS, VibrationConfig, shaft_speeds


def validation_inputs(run_dir, spec: DspSpec):
    """(N, *input_shape) float32 validation inputs of the run in `run_dir`, featurized with `spec`."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise DataError(f"{run_dir}: no metrics.json; expected a vibration run (make train-vibration)")
    metrics = json.loads(path.read_text())
    cfg = VibrationConfig(**metrics["config"])
    records = load_folder(metrics["data"], cfg.loads)
    split = split_windows(records, cfg.window, cfg.hop, cfg.train_fraction, LABELS[cfg.classes][0])
    return apply_many(spec, split.x_val, shaft_speeds(records, split.rec_val))
