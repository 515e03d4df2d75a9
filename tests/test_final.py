"""Out-of-fold ensembles and the final retrain on every unit, on the tiny simulated fleet."""

import json

import numpy as np
import pytest

from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.intervals import fit_conformal

MEMBERS = {  # two members with different windows: the ensemble crops the longer input for the shorter one
    "gru_w20": "window = 20\n[model]\nname = 'gru'\nhparams = { units = [8], dense = 4 }",
    "cnn_w30": "window = 30\n[model]\nname = 'cnn1d'\nhparams = { filters = [4, 1], kernel_size = [5, 3], "
    "head = 'flatten', dense = 8, dropout = 0.5, activation = 'tanh' }",
}


@pytest.fixture(scope="module")
def searched(sim_dir, tmp_path_factory):
    from prognos.pipeline.rul.search import run_search

    root = tmp_path_factory.mktemp("search")
    paths = []
    for name, body in MEMBERS.items():
        p = root / f"{name}.toml"
        p.write_text(f"[data]\nval_fraction = 0.25\nmin_cycles = 20\n{body}\n[train]\nepochs = 2\n")
        paths.append(p)
    run_search(paths, root / "out", k=2, data_dir=str(sim_dir))
    return [root / "out" / name for name in MEMBERS]


def test_ensemble_averages_out_of_fold_predictions(searched):
    from prognos.pipeline.rul.ensemble import average_oof, load_oof, score_ensemble

    avg = average_oof(searched)
    members = [load_oof(d) for d in searched]
    np.testing.assert_allclose(avg["pred"], (members[0]["pred"] + members[1]["pred"]) / 2)
    np.testing.assert_allclose(avg["cut_pred"], (members[0]["cut_pred"] + members[1]["cut_pred"]) / 2)
    summary = score_ensemble(searched)
    assert summary["rmse_mean"] > 0 and summary["test_protocol"]["rmse_mean"] > 0
    assert len(summary["member_test_rmse"]) == 2 and 0 <= summary["coverage_mean"] <= 1


def test_ensemble_refuses_members_on_other_folds(searched, tmp_path):
    from prognos.pipeline.rul.ensemble import average_oof

    other = tmp_path / "other"
    other.mkdir()
    oof = dict(np.load(searched[0] / "oof.npz"))
    oof["fold"] = 1 - oof["fold"]
    np.savez(other / "oof.npz", **oof)
    with pytest.raises(ConfigError, match="fold"):
        average_oof([searched[0], other])


def test_final_ensemble_bundle_averages_members_with_out_of_fold_interval(searched, tmp_path, monkeypatch):
    from prognos.edge_runtime.bundle import Bundle
    from prognos.models.kerasapi import keras
    from prognos.pipeline.rul import train
    from prognos.pipeline.rul.cv import calibration_set
    from prognos.pipeline.rul.ensemble import average_oof, folds_of
    from prognos.pipeline.rul.final import final_run

    fitted_with, fit = [], train.fit  # the preprocessor each member is actually trained with
    monkeypatch.setattr(
        train, "fit", lambda cfg, pre, *a, **k: fitted_with.append(pre.to_dict()) or fit(cfg, pre, *a, **k)
    )
    run = tmp_path / "final"
    result = final_run(searched, run, ["tflite_fp32", "tflite_int8"])
    assert len(fitted_with) == 2
    for name in ("tflite_fp32", "tflite_int8"):  # the train/serve contract: the members' preprocessing, at the
        shipped = Bundle(run / "bundles" / name).manifest["preprocessing"]  # ensemble's (longest) window
        assert all({**pre, "window": 30} == shipped for pre in fitted_with)
    cvs = [json.loads((d / "cv.json").read_text()) for d in searched]
    assert [m["epochs"] for m in result["members"]] == [int(np.median(c["best_epochs"])) for c in cvs]
    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    assert model.input_shape[1] == 30 and result["params"] == cvs[0]["params"] + cvs[1]["params"]
    x = np.random.default_rng(0).normal(size=(4, *model.input_shape[1:])).astype(np.float32)
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    want = (members[0](x[:, -20:]).numpy() + members[1](x).numpy()) / 2
    np.testing.assert_allclose(model(x).numpy(), want, atol=1e-5)
    oof = average_oof(searched)
    for name in ("tflite_fp32", "tflite_int8"):
        bundle = Bundle(run / "bundles" / name)
        assert bundle.interval["half_width"] == fit_conformal(*calibration_set(folds_of(oof)), 0.9)["half_width"]
        assert result["bundles"][name]["size_bytes"] == (run / "bundles" / name / "model.tflite").stat().st_size
    assert json.loads((run / "final.json").read_text())["cv"]["test_protocol"]["rmse_mean"] > 0
    best = result["best"]["chosen"]  # measured here, installed as bundles/best (edge_runtime.choose)
    assert best in ("tflite_fp32", "tflite_int8") and result["bundles"][best]["per_window_us"] > 0
    assert Bundle(run / "bundles" / "best").sha256 == Bundle(run / "bundles" / best).sha256
    for png in ("cv_rul_per_engine.png", "cv_error_histogram.png", "cv_folds.png"):  # the average's CV plots
        assert (run / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_final_refuses_members_with_other_data_settings(searched, tmp_path):
    from prognos.pipeline.rul.final import member_configs

    other = tmp_path / "other"
    other.mkdir()
    cv = json.loads((searched[0] / "cv.json").read_text())
    cv["config"]["data"]["rul_cap"] = 130.0
    (other / "cv.json").write_text(json.dumps(cv))
    with pytest.raises(ConfigError, match="share every"):
        member_configs([searched[0], other])


def test_a_new_final_clears_the_bundles_of_the_last_one(tmp_path):
    """A layout the new model does not get (e.g. a merged LSTM) must not stay behind to be chosen."""
    from prognos.pipeline.rul.final import _clear_bundles

    stale = tmp_path / "bundles" / "tflite_fp32_merged"
    stale.mkdir(parents=True)
    (stale / "manifest.json").write_text("{}")
    (tmp_path / "bundles" / "best.json").write_text("{}")
    (tmp_path / "bundles" / "notes").mkdir()  # not a bundle: left alone
    _clear_bundles(tmp_path / "bundles")
    assert sorted(p.name for p in (tmp_path / "bundles").iterdir()) == ["notes"]
