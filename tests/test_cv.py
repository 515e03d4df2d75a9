"""Cross-validation by engine unit and the config search, on the tiny simulated fleet."""

import json

import numpy as np
import pytest

from prognos.pipeline.data import cmapss
from prognos.pipeline.config import RunConfig
from prognos.pipeline.rul.cv import CUTS_PER_ENGINE, truncation_points, truncated_last_windows, unit_folds


def test_folds_partition_units(sim_dir):
    table = cmapss.load_table(sim_dir / "train_SIM.txt")
    folds = unit_folds(table, 5, seed=0)
    allu = np.concatenate(folds)
    assert sorted(allu) == list(range(1, 17)) and len(set(allu)) == 16
    assert [len(f) for f in folds] == [4, 3, 3, 3, 3]


def test_search_runs_cv_and_ranks(sim_dir, tmp_path):
    from prognos.pipeline.rul.search import run_search

    paths = []
    for units in (8, 4):
        p = tmp_path / f"lstm{units}.toml"
        p.write_text(
            f"[data]\nval_fraction = 0.25\n[model]\nname = 'lstm'\n"
            f"hparams = {{ units = [{units}], dense = 4 }}\n[train]\nepochs = 1\n"
        )
        paths.append(p)
    rows = run_search(paths, tmp_path / "search", k=2, data_dir=str(sim_dir))
    assert [r["candidate"] for r in rows] == sorted(
        ["lstm8", "lstm4"], key=lambda c: next(r["test_rmse_mean"] for r in rows if r["candidate"] == c)
    )
    cv = json.loads((tmp_path / "search" / "lstm8" / "cv.json").read_text())
    assert len(cv["folds"]) == 2 and sum(f["n"] for f in cv["folds"]) == sum(
        int((cmapss.load_table(sim_dir / "train_SIM.txt")[:, 0] == u).sum()) - 29 for u in range(1, 17)
    )
    assert 0 <= cv["coverage_mean"] <= 1 and cv["rmse_mean"] > 0
    for png in ("cv_rul_per_engine.png", "cv_error_histogram.png", "cv_folds.png"):
        assert (tmp_path / "search" / "lstm8" / png).stat().st_size > 1000
    assert "| lstm" in (tmp_path / "search" / "search.md").read_text()
    assert RunConfig.from_dict(cv["config"]).model.hparams["units"] == [8]
    test = cv["test_protocol"]
    assert test["rmse_mean"] > 0 and 0 <= test["coverage_mean"] <= 1
    assert sum(f["n"] for f in test["folds"]) == 16 * CUTS_PER_ENGINE
    oof = np.load(tmp_path / "search" / "lstm8" / "oof.npz")
    assert len(oof["pred"]) == sum(f["n"] for f in cv["folds"]) and len(oof["cut_pred"]) == 16 * CUTS_PER_ENGINE
    mtime = (tmp_path / "search" / "lstm8" / "cv.json").stat().st_mtime_ns
    assert run_search(paths[:1], tmp_path / "search", k=2, data_dir=str(sim_dir))[0]["candidate"] == "lstm8"
    assert (tmp_path / "search" / "lstm8" / "cv.json").stat().st_mtime_ns == mtime  # cached, not rerun
    run_search(paths[:1], tmp_path / "split1", k=2, data_dir=str(sim_dir), split_seed=1)  # a second fold split
    other = np.load(tmp_path / "split1" / "lstm8" / "oof.npz")
    assert json.loads((tmp_path / "split1" / "lstm8" / "cv.json").read_text())["config"]["data"]["seed"] == 1
    assert not np.array_equal(other["cut_cycle"], oof["cut_cycle"])  # other folds and other cuts


def test_truncation_points_follow_the_simulator_truncation(sim_dir):
    """Cuts are seeded per unit (same for every candidate and fold), >= 31 cycles, before failure."""
    table = cmapss.load_table(sim_dir / "train_SIM.txt")
    pairs = truncation_points(table, [1, 2], seed=0)
    assert pairs == truncation_points(table, [2, 1], seed=0)[CUTS_PER_ENGINE:] + truncation_points(table, [2], seed=0)
    for u, cut in pairs:
        life = int((table[:, 0] == u).sum())
        assert min(life, 31) <= cut <= max(31, int(0.95 * life))
    assert truncation_points(table, [1], seed=1) != truncation_points(table, [1], seed=0)


def test_truncated_last_window_is_the_sliding_window_at_the_cut(sim_dir):
    """The test-protocol window equals the all-windows index's window ending at the cut cycle."""
    from prognos.pipeline.config import DataConfig
    from prognos.pipeline.data.dataset import fit_preprocessor, rows_of, window_index

    table = cmapss.load_table(sim_dir / "train_SIM.txt")
    pre = fit_preprocessor(table, DataConfig(window=50))
    pairs = truncation_points(table, [3], seed=0)
    x, true = truncated_last_windows(table, pairs, pre)
    index = window_index(rows_of(table, [3]), pre, 30)
    for (_, cut), xi, ti in zip(pairs, x, true):
        i = int(np.flatnonzero(index.cycle == cut)[0])
        np.testing.assert_allclose(xi, index.x[i], atol=1e-5)
        assert ti == min(index.y[i] * pre.rul_cap, pre.rul_cap) == pytest.approx(ti)


@pytest.mark.parametrize("warp", [[], [1.5]], ids=["plain", "time-warped"])
def test_fixed_budget_fold_trains_on_every_training_engine(sim_dir, monkeypatch, warp):
    """patience = 0: no inner split; the fold fits all its training engines (and with `time_warp` their
    warped copies) for exactly `epochs`; the held-out engines are never warped."""
    from prognos.pipeline.rul import cv, train

    seen, real_fit = {}, train.fit
    monkeypatch.setattr(
        train,
        "fit",
        lambda cfg, pre, tr, val, **kw: seen.update(n=len(tr), val=val) or real_fit(cfg, pre, tr, val, **kw),
    )
    cfg = RunConfig.from_dict(
        {
            "model": {"name": "lstm", "hparams": {"units": [4], "dense": 4}},
            "train": {"epochs": 2, "patience": 0, "lr_schedule": "cosine", "time_warp": warp},
        }
    )
    table = cmapss.load_table(sim_dir / "train_SIM.txt")
    fold = cv._run_fold(cfg, table, np.array([1, 2, 3, 4]))
    lives = [int((table[:, 0] == u).sum()) for u in range(5, 17)]
    lives += [round(s * life) for s in warp for life in lives]
    assert seen["val"] is None and seen["n"] == sum(life - 29 for life in lives)
    assert fold["best_epoch"] == 2 and set(fold["unit"]) == {1, 2, 3, 4}


def test_interval_calibration_weighs_windows_and_test_protocol_cuts_equally():
    from prognos.pipeline.rul.cv import calibration_set

    folds = [
        {
            "pred": np.array([1.0, 2, 3]),
            "true": np.array([1.0, 2, 4]),
            "cut_pred": np.array([50.0]),
            "cut_true": np.array([60.0]),
        },
        {
            "pred": np.array([4.0, 5, 6]),
            "true": np.array([4.0, 5, 5]),
            "cut_pred": np.array([70.0]),
            "cut_true": np.array([90.0]),
        },
    ]
    pred, true = calibration_set(folds)
    assert pred.tolist() == [1, 2, 3, 4, 5, 6, 50, 70, 50, 70, 50, 70]  # 6 windows, 2 cuts x 3
    assert true.tolist() == [1, 2, 4, 4, 5, 5, 60, 90, 60, 90, 60, 90]
