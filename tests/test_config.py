"""The one config loader (edge_runtime.configfile) for run, vibration and service configs."""

import pytest

from prognos.edge_runtime.config import ServiceConfig
from prognos.edge_runtime.configfile import fill, load_toml, override
from prognos.edge_runtime.errors import ConfigError
from prognos.pipeline.config import RunConfig
from prognos.pipeline.vibration.train import VibrationConfig
from tests.conftest import run_py


def test_wrong_type_names_key_value_and_expected_type():
    with pytest.raises(ConfigError, match=r"train\.epochs = '40' \(str\); expected int"):
        RunConfig.from_dict({"train": {"epochs": "40"}})
    with pytest.raises(ConfigError, match=r"data\.data_dir = 3 \(int\); expected str or none"):
        RunConfig.from_dict({"data": {"data_dir": 3}})
    with pytest.raises(ConfigError, match=r"stream\.max_batch = 1\.5 \(float\); expected int"):
        ServiceConfig.from_dict({"stream": {"max_batch": 1.5}})
    with pytest.raises(ConfigError, match=r"train\.jit_compile = 1 \(int\); expected bool"):
        RunConfig.from_dict({"train": {"jit_compile": 1}})


def test_unknown_keys_and_sections_are_refused():
    with pytest.raises(ConfigError, match=r"\[run\]: unknown keys \['dataa'\]"):
        RunConfig.from_dict({"dataa": {}})
    with pytest.raises(ConfigError, match=r"\[run.train\]: unknown keys \['epoch'\]"):
        RunConfig.from_dict({"train": {"epoch": 3}})
    with pytest.raises(ConfigError, match=r"\[service\]: unknown keys \['source'\]"):
        ServiceConfig.from_dict({"source": "x"})  # set by the program, never by a file
    with pytest.raises(ConfigError, match=r"\[run.train\]: expected a table"):
        RunConfig.from_dict({"train": 3})


def test_values_of_the_right_type_fill_the_dataclasses():
    cfg = RunConfig.from_dict({"data": {"rul_cap": 130, "data_dir": None}, "train": {"time_warp": [1.5]}})
    assert cfg.data.rul_cap == 130.0 and isinstance(cfg.data.rul_cap, float) and cfg.train.time_warp == [1.5]
    override(cfg, "train.epochs", 7)
    assert cfg.train.epochs == 7
    with pytest.raises(ConfigError, match=r"train\.epochs = 'x'"):
        override(cfg, "train.epochs", "x")
    with pytest.raises(ConfigError, match="unknown key 'train.nope'"):
        override(cfg, "train.nope", 1)
    assert fill(VibrationConfig, {"loads": [0, 1], "lr": 1}).lr == 1.0


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_toml(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("epochs = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        RunConfig.load(tmp_path / "bad.toml")


def test_cli_reports_a_wrong_type_without_traceback(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[train]\nepochs = "40"\n')
    r = run_py(
        f"from prognos.pipeline.cli import main; import sys; sys.exit(main(['train', '--config', '{cfg}', "
        f"'--run', '{tmp_path / 'run'}']))"
    )
    assert r.returncode == 2 and "train.epochs = '40' (str); expected int" in r.stderr
    assert "Traceback" not in r.stderr
    vcfg = tmp_path / "v.toml"
    vcfg.write_text("[vibration]\nepochs = 2.5\n")
    r = run_py(
        f"from prognos.pipeline.cli import main; import sys; sys.exit(main(['vibration', '--config', '{vcfg}', "
        f"'--run', '{tmp_path / 'vib'}']))"
    )
    assert r.returncode == 2 and "vibration.epochs = 2.5 (float); expected int" in r.stderr, r.stderr
