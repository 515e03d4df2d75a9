"""Cross-validation by engine unit and the config search, on the tiny simulated fleet."""
import json

import numpy as np

from pipeline import cmapss
from pipeline.config import RunConfig
from pipeline.cv import unit_folds


def test_folds_partition_units(sim_dir):
    table = cmapss.load_table(sim_dir / "train_SIM.txt")
    folds = unit_folds(table, 5, seed=0)
    allu = np.concatenate(folds)
    assert sorted(allu) == list(range(1, 17)) and len(set(allu)) == 16
    assert [len(f) for f in folds] == [4, 3, 3, 3, 3]


def test_search_runs_cv_and_ranks(sim_dir, tmp_path):
    from pipeline.search import run_search

    paths = []
    for units in (8, 4):
        p = tmp_path / f"lstm{units}.toml"
        p.write_text(f"[data]\nval_fraction = 0.25\n[model]\nname = 'lstm'\n"
                     f"hparams = {{ units = [{units}], dense = 4 }}\n[train]\nepochs = 1\n")
        paths.append(p)
    rows = run_search(paths, tmp_path / "search", k=2, data_dir=str(sim_dir))
    assert [r["candidate"] for r in rows] == sorted(["lstm8", "lstm4"], key=lambda c: next(
        r["rmse_mean"] for r in rows if r["candidate"] == c))
    cv = json.loads((tmp_path / "search" / "lstm8" / "cv.json").read_text())
    assert len(cv["folds"]) == 2 and sum(f["n"] for f in cv["folds"]) == sum(
        int((cmapss.load_table(sim_dir / "train_SIM.txt")[:, 0] == u).sum()) - 29 for u in range(1, 17))
    assert 0 <= cv["coverage_mean"] <= 1 and cv["rmse_mean"] > 0
    for png in ("cv_rul_per_engine.png", "cv_error_histogram.png", "cv_folds.png"):
        assert (tmp_path / "search" / "lstm8" / png).stat().st_size > 1000
    assert "| lstm" in (tmp_path / "search" / "search.md").read_text()
    assert RunConfig.from_dict(cv["config"]).model.hparams["units"] == [8]
