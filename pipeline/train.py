"""Training: data -> windows -> registered model -> fit with early stopping -> artifacts/<run>/.

Writes model.keras, history.csv, learning_curve.png, rul_validation.png, metrics.json, config.json
(the resolved configuration) and preprocessor.json.
"""
from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_runtime.errors import ConfigError
from edge_runtime.features import Preprocessor
from pipeline import cmapss, plots
from pipeline.config import RunConfig
from pipeline.dataset import fit_preprocessor, last_windows, rows_of, split_units, training_windows
from pipeline.metrics import rul_metrics


def resolve_data(cfg: RunConfig, run_dir: Path) -> tuple[Path, str]:
    """The data folder and subset; simulates the embedded default fleet when no folder is given."""
    if cfg.data.data_dir is None:
        from pipeline.simulate import write_dataset

        out = run_dir / "data"
        if not (out / "train_SIM.txt").exists():
            print(f"[prognos] simulating {cfg.data.sim_units} turbofan units into {out}", flush=True)
            write_dataset(out, cfg.data.sim_units, cfg.data.sim_units, seed=cfg.data.seed)
        return out, "SIM"
    data_dir = Path(cfg.data.data_dir)
    return data_dir, cmapss.find_subset(data_dir, cfg.data.subset)


def prepare(cfg: RunConfig, run_dir: Path):
    """Load, split by unit, fit preprocessing on training units; returns what training needs."""
    data_dir, subset = resolve_data(cfg, run_dir)
    table = cmapss.load_table(data_dir / f"train_{subset}.txt")
    train_units, val_units = split_units(table, cfg.data.val_fraction, cfg.data.seed)
    pre = fit_preprocessor(rows_of(table, train_units), cfg.data)
    train = training_windows(rows_of(table, train_units), pre, cfg.data.min_cycles)
    val = training_windows(rows_of(table, val_units), pre, cfg.data.min_cycles)
    split = {"train_units": train_units.tolist(), "val_units": val_units.tolist()}
    return pre, train, val, {"data_dir": str(data_dir), "subset": subset, **split}


def make_optimizer(name: str, lr: float):
    from models.kerasapi import keras

    makers = {"adam": lambda: keras.optimizers.Adam(lr), "sgd": lambda: keras.optimizers.SGD(lr),
              "momentum": lambda: keras.optimizers.SGD(lr, momentum=0.9)}
    if name not in makers:
        raise ConfigError(f"train.optimizer {name!r}; expected one of {sorted(makers)}")
    return makers[name]()


def fit(cfg: RunConfig, pre: Preprocessor, train, val):
    from models import create_model
    from models.kerasapi import keras

    keras.utils.set_random_seed(cfg.train.seed)
    model = create_model(cfg.model.name, train.x.shape[1:], task="rul", **cfg.model.hparams)
    model.compile(make_optimizer(cfg.train.optimizer, cfg.train.learning_rate), loss="mse")
    print(f"[prognos] {cfg.model.name}: {model.count_params():,} parameters, {len(train.x):,} training / "
          f"{len(val.x):,} validation windows", flush=True)
    stop = keras.callbacks.EarlyStopping(patience=cfg.train.patience, restore_best_weights=True)
    history = model.fit(train.x, train.y, validation_data=(val.x, val.y), epochs=cfg.train.epochs,
                        batch_size=cfg.train.batch_size, callbacks=[stop], shuffle=True,
                        verbose=1 if sys.stdout.isatty() else 2)
    return model, history.history


def train_run(cfg: RunConfig, run_dir) -> dict:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    pre, train, val, data_info = prepare(cfg, run_dir)
    model, history = fit(cfg, pre, train, val)
    val_pred = model.predict(val.x, batch_size=1024, verbose=0)[:, 0] * pre.rul_cap
    metrics = {"val": rul_metrics(val_pred, val.y * pre.rul_cap), "epochs": len(history["loss"]),
               "train_seconds": round(time.time() - t0, 1), "params": int(model.count_params())}
    test = evaluate_test(lambda x: model.predict(x, verbose=0)[:, 0] * pre.rul_cap, pre, data_info)
    if test:
        metrics["test"] = test
    model.save(run_dir / "model.keras")
    _write_artifacts(run_dir, cfg, pre, history, metrics, data_info)
    plots.rul_trajectories(val.cycle, val.y * pre.rul_cap, val_pred, val.unit, run_dir / "rul_validation.png")
    return metrics


def evaluate_test(predict, pre: Preprocessor, data_info: dict) -> dict | None:
    """Last-window RMSE/score on test units, only when the data folder has a RUL file for them."""
    data_dir, subset = Path(data_info["data_dir"]), data_info["subset"]
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
        keys = list(history)
        w.writerow(["epoch", *keys])
        for i in range(len(history[keys[0]])):
            w.writerow([i + 1, *(f"{history[k][i]:.6g}" for k in keys)])
    plots.learning_curve(history, run_dir / "learning_curve.png")
