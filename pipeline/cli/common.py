"""Arguments and helpers that several command modules share."""

from __future__ import annotations

import json
import os

from prognos.edge_runtime.cli import count
from prognos.edge_runtime.configfile import fill, load_toml, override
from prognos.pipeline.cli.sign import add_sign_key


def add_run(p, required=False):
    p.add_argument(
        "--run",
        required=required,
        default=None if required else "artifacts/demo",
        help="run folder under which artifacts are written/read (default artifacts/demo)",
    )


def add_train(p):
    p.add_argument("--config", help="TOML run config (sections [data] [model] [train]); flags below override it")
    p.add_argument("--data-dir", help="folder with C-MAPSS train_<subset>.txt; omit to use the built-in simulator")
    p.add_argument("--subset", help="subset name when the folder holds several (e.g. FD001)")
    p.add_argument("--model", help="registered model name (default lstm)")
    p.add_argument("--epochs", type=count, help="maximum epochs (early stopping on validation loss)")
    p.add_argument("--seed", type=int, help="seed for split, initialization and simulator")
    p.add_argument(
        "--strategy",
        choices=("auto", "default", "mirrored", "multiworker"),
        help="tf.distribute strategy (default auto: TF_CONFIG cluster -> multiworker, "
        ">1 GPU -> mirrored, else one device)",
    )
    p.add_argument(
        "--precision",
        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
        help="dtype policy (default auto: mixed_float16 on GPU, float32 on CPU)",
    )
    p.add_argument("--jit-compile", action="store_true", default=None, help="compile train steps with XLA")
    p.add_argument(
        "--mlflow",
        metavar="URI",
        help="also track the run in MLflow (e.g. file:./mlruns; needs the mlflow extra); same as PROGNOS_MLFLOW_URI",
    )


def add_export(p):
    add_run(p)
    p.add_argument(
        "--formats",
        "--variant",
        dest="formats",
        help="comma-separated variants from the export table (see `prognos formats`)",
    )
    p.add_argument("--calibration", type=count, default=256, help="int8 calibration windows (default 256)")
    p.add_argument("--tune-epochs", type=count, help="fine-tuning epochs of prune / cluster / QAT steps (default 4)")
    p.add_argument("--sparsity", type=float, help="override the table's target sparsity of pruning steps")
    p.add_argument("--schedule", choices=("polynomial", "constant"), help="override the pruning schedule")
    p.add_argument("--clusters", type=int, help="override the table's number of clusters per kernel")
    add_sign_key(p)


def run_config(args):
    from prognos.pipeline.config import RunConfig

    if getattr(args, "mlflow", None):
        os.environ["PROGNOS_MLFLOW_URI"] = args.mlflow
    cfg = RunConfig.load(args.config) if args.config else RunConfig()
    for value, key in (
        (args.data_dir, "data.data_dir"),
        (args.subset, "data.subset"),
        (args.model, "model.name"),
        (args.epochs, "train.epochs"),
        (args.seed, "data.seed"),
        (args.seed, "train.seed"),
        (args.strategy, "train.strategy"),
        (args.precision, "train.precision"),
        (args.jit_compile, "train.jit_compile"),
    ):
        if value is not None:
            override(cfg, key, value)
    return cfg


def config_from(cls, args, table: str, flags=()):
    """`cls` filled from the [table] of the --config TOML file (if given), then every CLI flag of
    `flags` that was set (names of args equal to the config's keys) overriding it, type-checked."""
    data = load_toml(args.config) if getattr(args, "config", None) else {}
    cfg = fill(cls, data.get(table, {}), table)
    for key in flags:
        if getattr(args, key, None) is not None:
            override(cfg, key, getattr(args, key))
    return cfg


def int_list(text: str | None):
    """ "0,1" -> [0, 1]; None stays None."""
    return None if text is None else [int(v) for v in text.split(",")]


def str_list(text: str | None):
    return None if text is None else text.split(",")


def formats_of(args, default):
    return args.formats.split(",") if getattr(args, "formats", None) else default


def tune_of(args):
    """(TuneConfig, overrides of the table's tune parameters) from the CLI flags."""
    from prognos.export.finetune import TuneConfig

    cfg = TuneConfig() if getattr(args, "tune_epochs", None) is None else TuneConfig(epochs=args.tune_epochs)
    overrides = {k: getattr(args, k, None) for k in ("sparsity", "schedule", "clusters")}
    return cfg, {k: v for k, v in overrides.items() if v is not None}


def hparams_of(pairs) -> dict:
    """--hparam KEY=VALUE flags -> {key: value}, values parsed as JSON (a bare word stays a string)."""
    from prognos.edge_runtime.errors import ConfigError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--hparam {pair!r}; expected KEY=VALUE, e.g. alpha=0.25")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
