"""Training: data -> window index -> registered model -> fit with early stopping -> artifacts/<run>/.

Writes model.keras, history.csv, learning_curve.png, rul_validation.png, metrics.json, config.json
(the resolved configuration) and preprocessor.json. Windows stream through `pipeline.tfdata`; the
device, replica and precision set-up is `pipeline.distribute`'s. An interrupted run resumes from
<run>/backup/ when the same command is run again (keras BackupAndRestore). Under multi-worker
training the chief writes <run>/, the other workers <run>/workers/<task>/.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.features import Preprocessor
from prognos.pipeline.data import cmapss
from prognos.pipeline.report import plots
from prognos.pipeline.config import RunConfig
from prognos.pipeline.data.dataset import (
    CMAPSS_LAYOUT,
    Layout,
    WindowIndex,
    fit_preprocessor,
    fitting_index,
    last_windows,
    rows_of,
    split_units,
    window_index,
)
from prognos.edge_runtime.scoring import rul_metrics


def resolve_data(cfg: RunConfig, run_dir: Path) -> tuple[Path, str]:
    """The data folder and subset; simulates the embedded default fleet when no folder is given."""
    if cfg.data.data_dir is None:
        from prognos.pipeline.data.simulate import write_dataset

        out = run_dir / "data"
        if not (out / "train_SIM.txt").exists():
            print(f"[prognos] simulating {cfg.data.sim_units} turbofan units into {out}", flush=True)
            run_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix="data.tmp-", dir=run_dir))
            write_dataset(tmp, cfg.data.sim_units, cfg.data.sim_units, seed=cfg.data.seed)
            try:  # atomic: workers of a multi-worker run may simulate at the same time
                tmp.rename(out)
            except OSError:
                shutil.rmtree(tmp)
        return out, "SIM"
    data_dir = Path(cfg.data.data_dir)
    return data_dir, cmapss.find_subset(data_dir, cfg.data.subset)


def load_training(cfg: RunConfig, run_dir: Path) -> tuple[np.ndarray, Layout, dict]:
    """(training table, its Layout, where it came from): a spec'd fleet (data.schema), else C-MAPSS text."""
    if cfg.data.schema:
        from prognos.pipeline.data.tables import load_fleet, table_of_fleet

        table, layout = table_of_fleet(load_fleet(cfg.data.data_dir, schema=cfg.data.schema)[0])
        return table, layout, {"data_dir": str(cfg.data.data_dir), "schema": cfg.data.schema, "subset": None}
    data_dir, subset = resolve_data(cfg, run_dir)
    return (
        cmapss.load_table(data_dir / f"train_{subset}.txt"),
        CMAPSS_LAYOUT,
        {"data_dir": str(data_dir), "subset": subset},
    )


def prepare(cfg: RunConfig, run_dir: Path, pre: Preprocessor | None = None):
    """Load, split by unit, fit preprocessing on training units (or use the given fitted `pre`);
    returns what training needs.

    `train` and `val` are `WindowIndex`es: lazy windows with the `Windows` fields (`x` materializes).
    """
    table, layout, source = load_training(cfg, run_dir)
    train_units, val_units = split_units(table, cfg.data.val_fraction, cfg.data.seed)
    pre = pre if pre is not None else fit_preprocessor(rows_of(table, train_units), cfg.data, layout)
    train = fitting_index(rows_of(table, train_units), pre, cfg)
    val = window_index(rows_of(table, val_units), pre, cfg.data.min_cycles)
    split = {"train_units": train_units.tolist(), "val_units": val_units.tolist()}
    return pre, train, val, {**source, **split}


def make_optimizer(name: str, lr: float, schedule: str = "constant", total_steps: int = 0):
    """`schedule` "cosine": lr follows a half cosine from `lr` to 0 over `total_steps` (Loshchilov &
    Hutter 2017, without restarts). A fixed curve, not a plateau rule: the final model trained on all
    units without validation (pipeline.final) then sees the same learning rates as its CV folds."""
    from prognos.models.kerasapi import keras

    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, max(1, total_steps))
    elif schedule != "constant":
        raise ConfigError(f"train.lr_schedule {schedule!r}; expected constant or cosine")
    makers = {
        "adam": lambda: keras.optimizers.Adam(lr),
        "sgd": lambda: keras.optimizers.SGD(lr),
        "momentum": lambda: keras.optimizers.SGD(lr, momentum=0.9),
    }
    if name not in makers:
        raise ConfigError(f"train.optimizer {name!r}; expected one of {sorted(makers)}")
    return makers[name]()


def fit(
    cfg: RunConfig,
    pre: Preprocessor,
    train: WindowIndex,
    val: WindowIndex | None,
    backup_dir=None,
    stop_epoch: int | None = None,
    log_dir=None,
):
    """Train `cfg.model` under `cfg.train`'s strategy; returns (float32 model outside any strategy,
    history: per-metric lists plus `epoch`, the 1-based numbers of the epochs run here).

    `log_dir`: TensorBoard (and MLflow, when configured) logs of this fit (pipeline.tracking).
    With `backup_dir`, a run interrupted after epoch k resumes at epoch k + 1 when fit is called again.
    With `val` None (the final model on every unit, pipeline.final) it runs exactly `cfg.train.epochs`
    epochs: no validation, no early stopping. `stop_epoch` ends training earlier, while the learning-rate
    schedule still spans `cfg.train.epochs` (the final model stops at its CV best epoch on the same curve).
    """
    from prognos.models import create_model
    from prognos.models.kerasapi import keras
    from prognos.pipeline.scale import distribute, tfdata

    plan = distribute.plan(cfg.train)  # first: the strategy must exist before other TensorFlow work
    keras.utils.set_random_seed(cfg.train.seed)

    def build():
        return create_model(cfg.model.name, train.window_shape, task="rul", **cfg.model.hparams)

    steps = tfdata.steps_per_epoch(train, plan.global_batch)
    with plan.scope():
        model = build()
        model.compile(
            make_optimizer(cfg.train.optimizer, plan.learning_rate, cfg.train.lr_schedule, steps * cfg.train.epochs),
            loss="mse",
            jit_compile=plan.jit_compile,
        )
    print(
        f"[prognos] {cfg.model.name}: {model.count_params():,} parameters, {len(train):,} training / "
        f"{len(val) if val is not None else 0:,} validation windows; {plan.describe()}",
        flush=True,
    )
    callbacks = (
        []
        if val is None or not cfg.train.patience
        else [keras.callbacks.EarlyStopping(patience=cfg.train.patience, restore_best_weights=True)]
    )
    if backup_dir is not None:
        callbacks.insert(0, distribute.backup_callback(backup_dir))
    if log_dir is not None:
        from prognos.pipeline import tracking

        callbacks += tracking.callbacks(log_dir, {"model": cfg.model.name, **cfg.model.hparams, **vars(cfg.train)})
    stream = tfdata.distributed_training_stream(
        plan.strategy, train, plan.global_batch, cfg.train.seed, cfg.train.input_noise
    )
    history = model.fit(
        stream,
        steps_per_epoch=steps,
        validation_data=None if val is None else tfdata.window_dataset(val, plan.global_batch),
        epochs=stop_epoch or cfg.train.epochs,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    if not plan.plain:
        model = distribute.float32_copy(model, build)
        model.compile(make_optimizer(cfg.train.optimizer, cfg.train.learning_rate), loss="mse")
    return model, {**history.history, "epoch": [e + 1 for e in history.epoch]}


def train_run(cfg: RunConfig, run_dir) -> dict:
    from prognos.pipeline.scale import distribute, tfdata

    run_dir = Path(run_dir)
    out = distribute.artifact_dir(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    pre, train, val, data_info = prepare(cfg, run_dir)
    model, history = fit(cfg, pre, train, val, backup_dir=run_dir / "backup", log_dir=out / "tb" / "train")
    val_pred = tfdata.predict(model, val)[:, 0] * pre.rul_cap
    epochs = history["epoch"] or [cfg.train.epochs]  # empty when restored from a backup of the last epoch
    metrics = {
        "val": rul_metrics(val_pred, val.y * pre.rul_cap),
        "epochs": epochs[-1],
        "resumed_from_epoch": epochs[0] - 1,
        "train_seconds": round(time.time() - t0, 1),
        "params": int(model.count_params()),
        "distribute": distribute.plan(cfg.train).describe(),
    }
    test = evaluate_test(lambda x: model.predict(x, verbose=0)[:, 0] * pre.rul_cap, pre, data_info)
    if test:
        metrics["test"] = test
    model.save(out / "model.keras")
    if out == run_dir and (run_dir / "backup").is_dir() and not any((run_dir / "backup").iterdir()):
        (run_dir / "backup").rmdir()  # BackupAndRestore deleted its checkpoint on success, not the folder
    _write_artifacts(out, cfg, pre, history, metrics, data_info)
    plots.rul_trajectories(val.cycle, val.y * pre.rul_cap, val_pred, val.unit, out / "rul_validation.png")
    return metrics


def evaluate_test(predict, pre: Preprocessor, data_info: dict) -> dict | None:
    """Last-window RMSE/score on test units, only when the data folder has a RUL file for them."""
    data_dir, subset = Path(data_info["data_dir"]), data_info["subset"]
    if subset is None:  # a spec'd fleet: its test data, if any, is not in the C-MAPSS layout
        return None
    test_file, rul_file = data_dir / f"test_{subset}.txt", data_dir / f"RUL_{subset}.txt"
    if not (test_file.exists() and rul_file.exists()):
        return None
    units, x = last_windows(cmapss.load_table(test_file), pre)
    true = np.minimum(cmapss.load_rul_file(rul_file, len(units)), pre.rul_cap)
    return rul_metrics(predict(x), true)


def _write_artifacts(run_dir: Path, cfg, pre, history, metrics, data_info):
    (run_dir / "config.json").write_text(json.dumps({**cfg.to_dict(), "resolved_data": data_info}, indent=2))
    (run_dir / "preprocessor.json").write_text(json.dumps(pre.to_dict(), indent=2))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    with (run_dir / "history.csv").open("w", newline="") as f:
        w = csv.writer(f)
        keys = [k for k in history if k != "epoch"]
        w.writerow(["epoch", *keys])
        for i, epoch in enumerate(history["epoch"]):
            w.writerow([epoch, *(f"{history[k][i]:.6g}" for k in keys)])
    plots.learning_curve(history, run_dir / "learning_curve.png")
