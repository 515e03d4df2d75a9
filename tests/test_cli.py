"""The CLIs: instant help without TensorFlow, clear errors instead of tracebacks."""

from tests.conftest import run_cli, run_py


def test_help_is_instant_and_tf_free():
    r = run_py(
        "import sys; from prognos.pipeline.cli import _parser; from prognos.edge_runtime.cli import _parser as p2; "
        "_parser().format_help(); p2().format_help(); print('tensorflow' in sys.modules)"
    )
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_help_lists_commands():
    r = run_cli("prognos", "--help")
    assert r.returncode == 0
    for cmd in ("simulate", "train", "export", "quantize", "bench", "profile", "report", "evaluate", "demo"):
        assert cmd in r.stdout


def test_bad_data_dir_is_a_clear_error(tmp_path):
    r = run_cli("prognos", "train", "--data-dir", str(tmp_path), "--run", str(tmp_path / "run"))
    assert r.returncode == 2
    assert "expected exactly one train_<subset>.txt" in r.stderr and "Traceback" not in r.stderr


def test_bad_config_is_a_clear_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nepochz = 3\n")
    r = run_cli("prognos", "train", "--config", str(cfg), "--run", str(tmp_path / "run"))
    assert r.returncode == 2 and "unknown keys ['epochz']" in r.stderr


def test_bench_and_report_of_a_missing_run_are_clear_errors(tmp_path):
    # only the embedded demo run is made on demand; a typo must not train a model into a new folder
    r = run_cli("prognos", "bench", "--run", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no model.keras" in r.stderr and not (tmp_path / "nope").exists()
    r = run_cli("prognos", "report", "--run", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no such run folder" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_with_rul_file(tiny_run, sim_dir):
    r = run_cli(
        "prognos",
        "evaluate",
        "--bundle",
        str(tiny_run["dir"] / "bundles" / "tflite_int8"),
        "--test",
        str(sim_dir / "test_SIM.txt"),
        "--rul",
        str(sim_dir / "RUL_SIM.txt"),
    )
    assert r.returncode == 0, r.stderr
    import json

    result = json.loads(r.stdout)
    assert result["units"] == 8 and result["metrics"]["n"] == 8 and result["metrics"]["rmse"] > 0


def test_shipped_configs_load():
    """Every run config and every sweep candidate (`make fd001-search` runs them all): known keys,
    a registered model and hyper-parameters its builder accepts."""
    from pathlib import Path

    from prognos.models.registry import hparams_of
    from prognos.pipeline.rul.search import candidates

    root = Path(__file__).parents[1] / "configs"
    runs = [p for p in root.glob("*.toml") if "[model]" in p.read_text()]
    found = candidates([*runs, *sorted((root / "sweeps").glob("*.toml"))])
    assert len(found) >= len(runs) + 50
    for _, cfg, source in found:
        assert cfg.data.window > 0 and set(cfg.model.hparams) <= set(hparams_of(cfg.model.name)), source


def test_sweep_candidates_only_and_seeds(tmp_path):
    import pytest

    from prognos.edge_runtime.errors import ConfigError
    from prognos.pipeline.rul.search import candidates

    sweep = tmp_path / "s.toml"
    sweep.write_text(
        '[base.train]\nepochs = 3\n[[candidate]]\nname = "a"\ndata = { window = 20 }\n'
        '[[candidate]]\nname = "b"\nmodel = { name = "gru" }\ntrain = { epochs = 5 }\n'
    )
    found = {n: c for n, c, _ in candidates([sweep], seeds=[1])}
    assert sorted(found) == ["a", "a_s1", "b", "b_s1"]
    assert (found["a"].data.window, found["a"].train.epochs, found["b"].train.epochs) == (20, 3, 5)
    assert found["b_s1"].train.seed == 1 and found["b"].train.seed == 0 and found["b_s1"].model.name == "gru"
    assert [n for n, _, _ in candidates([sweep], only=["b"])] == ["b"]
    with pytest.raises(ConfigError, match="--only c: no such candidate; expected some of a, b"):
        candidates([sweep], only=["c"])
    sweep.write_text('[[candidate]]\nname = "a"\ntrain = { epochs = "3" }\n')
    with pytest.raises(ConfigError, match=r"train.epochs = '3' \(str\); expected int"):
        candidates([sweep])


def test_recipe_candidates_load():
    """configs/recipe.toml's candidates as `prognos rul` builds them (pipeline.rul.recipe)."""
    from prognos.models.registry import hparams_of
    from prognos.pipeline.rul.recipe import candidate_configs, load_recipe

    found = candidate_configs(load_recipe(), "cmapss", {"rul_cap": 125.0, "window_cap": 50}, {})
    assert len(found) >= 2
    for name, cfg in found:
        assert cfg.data.rul_cap == 125.0 and set(cfg.model.hparams) <= set(hparams_of(cfg.model.name)), name


def clear_error(r, *needles):
    """Exit code 2, each needle in stderr, no traceback."""
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr


def test_config_value_of_the_wrong_type_names_key_value_and_type(tmp_path):
    (tmp_path / "c.toml").write_text('[train]\nepochs = "40"\n')
    r = run_cli("prognos", "train", "--config", str(tmp_path / "c.toml"), "--run", str(tmp_path / "run"))
    clear_error(r, "train.epochs = '40' (str); expected int")
    (tmp_path / "e.toml").write_text('[stream]\nmax_batch = "8"\n')
    clear_error(run_cli("prognos-edge", "serve", "--config", str(tmp_path / "e.toml")), "stream.max_batch = '8' (str)")
    (tmp_path / "e.toml").write_text('trusted_keys = "k.pub"\n')
    clear_error(
        run_cli("prognos-edge", "serve", "--config", str(tmp_path / "e.toml")),
        "trusted_keys = 'k.pub' (str); expected list",
    )


def test_data_and_path_mistakes_are_clear_errors(tiny_run, sim_dir, tmp_path):
    bundle = str(tiny_run["dir"] / "bundles" / "onnx_fp32")
    (tmp_path / "norun").mkdir()
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "short.txt").write_text("1 1 2 3\n")
    (tmp_path / "rul.txt").write_text("10\n20\n")
    cases = [
        (
            ["prognos", "evaluate", "--run", str(tmp_path / "norun"), "--test", str(sim_dir / "test_SIM.txt")],
            "no model.keras; expected a trained run",
        ),
        (["prognos", "evaluate", "--bundle", bundle, "--test", str(tmp_path / "empty.txt")], "empty file"),
        (["prognos", "evaluate", "--bundle", bundle, "--test", str(tmp_path / "short.txt")], "4 columns, expected 26"),
        (["prognos", "evaluate", "--bundle", bundle, "--test", str(tmp_path / "missing.txt")], "no such file"),
        (
            [
                "prognos",
                "evaluate",
                "--bundle",
                bundle,
                "--test",
                str(sim_dir / "test_SIM.txt"),
                "--rul",
                str(tmp_path / "rul.txt"),
            ],
            "2 values, expected one per test unit (8)",
        ),
        (["prognos", "optimize", "--run", str(tmp_path / "norun"), "--budget", "-1"], "expected a finite number >= 0"),
        (["prognos", "simulate", "--units", "0", "--out", str(tmp_path / "s")], "expected an integer >= 1"),
        (["prognos", "simulate", "--out", "/proc/nope/sim"], "/proc/nope: no such file or directory"),
        (["prognos-edge", "predict", "--bundle", bundle, "--input", str(tmp_path / "missing.txt")], "cannot open"),
        (["prognos-edge", "predict", "--bundle", bundle, "--threads", "0"], "expected an integer >= 1"),
        (["prognos-edge", "predict", "--bundle", bundle, "--trust", str(tmp_path / "none.pub")], "no such public key"),
        (["prognos", "sign", "--bundle", bundle, "--key", str(tmp_path / "rul.txt")], "not an unencrypted PEM"),
    ]
    for args, needle in cases:
        clear_error(run_cli(*args, stdin=""), needle)


def test_every_subcommand_has_a_command():
    from prognos.pipeline.cli import _parser

    sub = next(a for a in _parser()._actions if a.dest == "command")
    assert len(sub.choices) >= 24
    assert [name for name, p in sub.choices.items() if not callable(p.get_default("func"))] == []
