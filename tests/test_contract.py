"""The train/serve contract of `train` + `export`: every bundle carries exactly the preprocessing the model
was trained with. (`final`: tests/test_final.py; `optimize`: test_compress.py; `vibration` and
`vibration-anomaly`: test_vibration.py.)"""

import json

import numpy as np

from prognos.edge_runtime.bundle import Bundle
from prognos.pipeline.data.dataset import fitting_index
from prognos.pipeline.config import RunConfig
from prognos.pipeline.rul.runs import load_run
from tests.conftest import SKELETON_FORMATS


def test_export_ships_the_preprocessor_train_fitted(tiny_run):
    run = tiny_run["dir"]
    trained_with = json.loads((run / "preprocessor.json").read_text())  # written by train_run from its fit
    trained = load_run(run)
    assert trained.pre.to_dict() == trained_with
    for name in SKELETON_FORMATS:
        bundle = Bundle(run / "bundles" / name)
        assert bundle.manifest["preprocessing"] == trained_with, name
    # and the windows cut with the shipped preprocessing are the ones the model was fitted on
    cfg = RunConfig.from_dict(
        {k: v for k, v in json.loads((run / "config.json").read_text()).items() if k != "resolved_data"}
    )
    np.testing.assert_array_equal(trained.train.x, fitting_index(_train_rows(trained, cfg), bundle.preprocessor, cfg).x)


def _train_rows(trained, cfg):
    from prognos.pipeline.data import cmapss
    from prognos.pipeline.data.dataset import rows_of, split_units
    from prognos.pipeline.rul.train import resolve_data

    data_dir, subset = resolve_data(cfg, trained.out)
    table = cmapss.load_table(data_dir / f"train_{subset}.txt")
    return rows_of(table, split_units(table, cfg.data.val_fraction, cfg.data.seed)[0])
