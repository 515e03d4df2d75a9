"""`prognos rul` end to end on a simulated CSV fleet with named columns and three operating regimes:
CSV -> recipe (tiny epochs) -> RUN/bundles/best -> `prognos-edge predict` on CSV rows -> the same
predictions as the training side; unknown regimes flagged and counted; no failures -> anomaly bundle."""

import csv
import json

import numpy as np
import pytest

from conftest import run_cli

SENSORS = ["s2", "s3", "s4", "s7", "s9", "s11", "s12", "s14", "s15", "s17", "s20"]
TINY_RECIPE = """
[base.data]
window = 10
min_cycles = 5
age_feature = true
smoothing = 0.3
regime_onehot = true
rul_cap = "auto"
min_abs_corr = 0.1
[base.train]
lr_schedule = "cosine"
patience = 0
time_warp = [0.85]
engine_mix = 1
batch_size = 64
[[candidate]]
name = "lstm8"
model = { name = "lstm", hparams = { units = [8], dense = 8, dropout = 0.0 } }
train = { epochs = 1 }
"""


def write_regime_csv(folder, n_units=8, seed=5, failed=True):
    """The simulator's fleet as a CSV of named columns, each row in one of 3 operating regimes."""
    from prognos.edge_runtime.schema import CMAPSS_COLUMNS
    from prognos.pipeline.data.simulate import simulate_table

    table = simulate_table(n_units, seed)
    rng = np.random.default_rng(seed)
    r = rng.integers(0, 3, len(table))
    folder.mkdir(parents=True, exist_ok=True)
    names = ["pump_id", "hours", "load", "speed", *[f"temp_{s}" for s in SENSORS], "failed"]
    with (folder / "fleet.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        last = np.r_[table[1:, 0] != table[:-1, 0], True]  # each asset's last row: where it failed
        for row, regime, end in zip(table, r, last):
            sensors = [row[CMAPSS_COLUMNS.index(s)] + 40.0 * (regime + 1) * (1 + i % 3) for i, s in enumerate(SENSORS)]
            w.writerow(
                [
                    f"pump-{int(row[0])}",
                    int(row[1]),
                    round(20.0 * regime + rng.normal(0, 0.05), 3),
                    round(0.4 * regime + rng.normal(0, 0.002), 4),
                    *[round(v, 3) for v in sensors],
                    int(failed and end),
                ]
            )
    (folder / "schema.toml").write_text(
        'files = "fleet.csv"\nasset = "pump_id"\ntime = "hours"\n'
        'settings = ["load", "speed"]\nfailures = { column = "failed" }\n'
    )
    return folder


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    from prognos.pipeline.rul.recipe_steps import run_recipe

    root = tmp_path_factory.mktemp("fleet")
    data = write_regime_csv(root / "data")
    (root / "tiny.toml").write_text(TINY_RECIPE)
    out = run_recipe(data, root / "run", schema=data / "schema.toml", recipe_path=root / "tiny.toml", folds=2)
    return {"root": root, "data": data, "run": root / "run", "out": out}


def test_recipe_records_its_choices_and_bundles_the_regimes(recipe_run):
    run = recipe_run["run"]
    recipe = json.loads((run / "recipe.json").read_text())
    assert recipe["chosen"]["members"] == ["lstm8"] and recipe["choices"]["resolved"]["rul_cap"] > 0
    manifest = json.loads((run / "bundles" / "best" / "manifest.json").read_text())
    pre = manifest["preprocessing"]
    assert len(pre["regimes"]["centroids"]) == 3 and pre["regimes"]["settings"] == ["load", "speed"]
    assert pre["columns"][:2] == ["pump_id", "hours"] and pre["features"][0] == "hours"
    assert pre["window"] == 10 and pre["rul_cap"] == recipe["choices"]["resolved"]["rul_cap"]
    from prognos.edge_runtime.bundle import Bundle

    assert pre["regimes"]["onehot"] and Bundle(run / "bundles" / "best").input_shape == (10, len(pre["features"]) + 3)


def test_report_has_a_recipe_section_with_the_choice_and_its_numbers(recipe_run):
    """The recipe's last step wrote the HTML report; its Recipe section carries the choice and why."""
    recipe = json.loads((recipe_run["run"] / "recipe.json").read_text())
    assert recipe_run["out"]["report"] == str(recipe_run["run"] / "report" / "index.html")
    page = (recipe_run["run"] / "report" / "index.html").read_text()
    part = page[page.index('<section id="recipe">') :]
    part = part[: part.index("</section>")]
    assert "<h3>Chosen: lstm8</h3>" in part and "lstm8 (chosen)" in part
    assert f"CV RMSE {recipe['chosen']['cv']['test_rmse']:.2f}" in part
    assert f"{recipe['chosen']['shift']['shift']:+.1f}" in part and "adopted" in part
    assert f'<td class="r">{recipe["choices"]["resolved"]["rul_cap"]:.4g}</td>' in part
    assert f"<b>{recipe['best_bundle']}</b>" in part and "s in all" in part
    assert "no cheaper subset within the tolerances" in part and "MACs / window" in part


def test_edge_predict_on_csv_rows_equals_training_side(recipe_run):
    from prognos.edge_runtime.bundle import Bundle

    best = recipe_run["run"] / "bundles" / "best"
    lines = (recipe_run["data"] / "fleet.csv").read_text().splitlines()
    rows = [lines[0]] + [ln for ln in lines[1:] if ln.startswith("pump-2,")][:25]
    r = run_cli("prognos-edge", "predict", "--bundle", str(best), stdin="\n".join(rows) + "\n")
    assert r.returncode == 0, r.stderr
    device = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(device) == 25 and device[0]["unit"] == "pump-2" and "regime" in device[0]
    bundle = Bundle(best)
    pre = bundle.preprocessor
    header = lines[0].split(",")
    raw = np.array([[float(ln.split(",")[header.index(c)]) for c in pre.inputs] for ln in rows[1:]])
    train_side = bundle.predict(np.stack([pre.last_window(raw[: i + 1]) for i in range(len(raw))]))
    np.testing.assert_allclose([d["rul"] for d in device], train_side, atol=0.006)


def test_unknown_regime_row_is_flagged_and_counted(recipe_run):
    from prognos.edge_runtime.bundle import Bundle
    from prognos.edge_runtime.metrics import prometheus
    from prognos.edge_runtime.stream import StreamEngine

    bundle = Bundle(recipe_run["run"] / "bundles" / "best")
    pre, engine = bundle.preprocessor, StreamEngine(bundle)
    row = [float(i) for i in range(len(pre.inputs))]
    row[pre.inputs.index("load")], row[pre.inputs.index("speed")] = 20.0, 0.4  # regime 1
    engine.add("p", 1, row)
    row = list(row)
    row[pre.inputs.index("load")] = 90.0  # no training regime near it
    engine.add("p", 2, row)
    preds, _ = engine.flush()
    assert [p["status"] for p in preds] == ["warmup", "unknown_regime"]
    assert engine.stats.unknown_regime == 1
    assert "prognos_rows_unknown_regime_total 1" in prometheus(engine.stats, bundle.sha256)


def test_fleet_without_failures_gets_an_anomaly_bundle_the_edge_serves(tmp_path):
    from prognos.pipeline.rul.recipe_steps import run_recipe

    data = write_regime_csv(tmp_path / "data", n_units=6, failed=False)
    out = run_recipe(data, tmp_path / "run", schema=data / "schema.toml", epochs=2)
    assert out["path"].startswith("health monitoring") and 0 <= out["false_alarm_rate_check_healthy"] <= 1
    best = tmp_path / "run" / "bundles" / "best"
    assert json.loads((best / "manifest.json").read_text())["task"] == "anomaly"
    lines = (data / "fleet.csv").read_text().splitlines()
    r = run_cli("prognos-edge", "predict", "--bundle", str(best), stdin="\n".join(lines[:80]) + "\n")
    assert r.returncode == 0, r.stderr
    outs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(outs) == 79 and {"score", "threshold", "status"} <= set(outs[-1])
    assert {o["status"] for o in outs} <= {"warmup", "healthy", "anomalous"}
    assert "False alarms on held-out healthy windows" in (tmp_path / "run" / "report" / "index.html").read_text()


def test_bias_shift_moves_late_predictions_earlier_without_costing_rmse():
    from prognos.edge_runtime.scoring import rul_metrics
    from prognos.pipeline.rul.recipe import fit_shift, shift

    rng = np.random.default_rng(0)
    true = rng.uniform(0, 125, 2000)
    late = true + 5 + rng.normal(0, 3, 2000)
    b = fit_shift(late, true)
    assert b <= -3 and rul_metrics(shift(late, b), true)["rmse"] < rul_metrics(late, true)["rmse"]
    assert rul_metrics(shift(late, b), true)["score"] < rul_metrics(late, true)["score"]
    assert shift(np.array([1.0]), -5.0)[0] == 0.0  # clipped at 0, as the device does


def _cv_dir(path, smoothing: float, pred_offset: float, macs: int = 1000):
    """A CV folder as `prognos cv` writes it: cv.json (config, MACs) and oof.npz (2 folds, 20 cuts)."""
    rng = np.random.default_rng(1)
    n, cuts = 40, 20
    true = rng.uniform(0, 125, n)
    cut_true = rng.uniform(0, 125, cuts)
    path.mkdir()
    cfg = {"data": {"window": 30, "smoothing": smoothing, "rul_cap": 125.0}}
    (path / "cv.json").write_text(json.dumps({"config": cfg, "macs": macs}))
    np.savez(
        path / "oof.npz",
        unit=np.repeat(np.arange(4), 10),
        cycle=np.tile(np.arange(1.0, 11.0), 4),
        true=true.astype("float32"),
        pred=(true + pred_offset).astype("float32"),
        fold=np.repeat([0, 1], 20),
        cut_unit=np.repeat(np.arange(4), 5),
        cut_cycle=np.tile(np.arange(1, 6), 4),
        cut_true=cut_true,
        cut_pred=(cut_true + pred_offset).astype("float32"),
        cut_fold=np.repeat([0, 1], 10),
    )
    return path


def test_subsets_mixing_preprocessing_are_not_offered(tmp_path):
    """An ensemble bundle has one preprocessing: members smoothed differently cannot be averaged on the
    device, so the recipe must not choose them together even when their average scores best."""
    from prognos.pipeline.rul.recipe import subsets_by_cv

    dirs = {
        "a": _cv_dir(tmp_path / "a", 0.3, +4.0),
        "b": _cv_dir(tmp_path / "b", 0.3, +6.0),
        "c": _cv_dir(tmp_path / "c", 0.0, -3.0),  # the best alone; with a, errors cancel (mixed)
    }
    offered = [r["members"] for r in subsets_by_cv(dirs)]
    assert sorted(map(sorted, offered)) == [["a"], ["a", "b"], ["b"], ["c"]]
    assert offered[0] == ["c"]


def test_choose_refuses_bundles_of_different_inputs(recipe_run, tiny_run, tmp_path):
    """`--candidates` compares layouts of one model: a bundle of another window or feature set is refused."""
    import shutil

    from prognos.edge_runtime.choose import choose
    from prognos.edge_runtime.errors import ConfigError

    shutil.copytree(recipe_run["run"] / "bundles" / "best", tmp_path / "fleet")
    shutil.copytree(tiny_run["dir"] / "bundles" / "tflite_fp32", tmp_path / "demo")
    with pytest.raises(ConfigError, match="read different inputs"):
        choose(tmp_path, seconds=0.05, assets=4)
    assert not (tmp_path / "best").exists()


def test_the_cheapest_subset_within_the_tolerances_is_deployed(tmp_path):
    """A cheap member 0.04 RMSE behind the best average is chosen by the default rule (and says why);
    with tolerance 0 the most accurate subset; a member far behind is never chosen for its cost."""
    from prognos.pipeline.rul.recipe_steps import choose

    dirs = {
        "big": _cv_dir(tmp_path / "big", 0.3, +2.0, macs=900_000),
        "small": _cv_dir(tmp_path / "small", 0.3, +2.04, macs=100_000),
        "tiny": _cv_dir(tmp_path / "tiny", 0.3, +9.0, macs=1_000),
    }
    exact = choose(dirs, {"rmse_tolerance": 0.0, "score_tolerance": 0.0})
    assert exact["members"] == ["big"] and "lowest" in exact["why"]
    cheap = choose(dirs, {"rmse_tolerance": 0.1, "score_tolerance": 0.05})
    assert cheap["members"] == ["small"] and cheap["cv"]["macs"] == 100_000
    assert "100,000 vs 900,000" in cheap["why"]
    assert cheap["cv"]["test_rmse"] <= exact["cv"]["test_rmse"] + 0.1


def test_command_line_tolerances_are_checked_before_any_work(tmp_path):
    """`prognos rul --rmse-tolerance -1` stops with one line naming the option, before reading data."""
    r = run_cli(
        "prognos",
        "rul",
        "--data-dir",
        str(tmp_path / "nowhere"),
        "--run",
        str(tmp_path / "run"),
        "--rmse-tolerance",
        "-1",
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "--rmse-tolerance" in r.stderr and "expected a number >= 0" in r.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "table, message",
    [
        ("rmse_tolerance = -1", "expected a number >= 0"),
        ('score_tolerance = "5 %"', "expected a number >= 0"),
        ("speed = true", "expected keys"),
    ],
)
def test_a_wrong_choose_table_is_refused_by_key(tmp_path, table, message):
    from prognos.edge_runtime.errors import ConfigError
    from prognos.pipeline.rul.recipe import load_recipe

    path = tmp_path / "recipe.toml"
    path.write_text(f"[choose]\n{table}\n" + TINY_RECIPE)
    with pytest.raises(ConfigError, match=message) as e:
        load_recipe(path)
    assert str(path) in str(e.value)
