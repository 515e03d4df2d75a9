"""Vibration anomaly detection: an autoencoder trained on healthy (class `normal`) windows only.

Score = reconstruction MSE of the normalized log-mel features (models.autoencoder.anomaly_score);
threshold = the `quantile` of the scores of held-out healthy calibration windows (the last
`calibration` fraction, in time, of the healthy training windows; the autoencoder never fits them,
since its own training windows score too low: 89 % false alarms on real CWRU), so no fault window
and no validation window is used to fit anything. Reported on the validation time segments (cwru.split_windows): false-alarm
rate on healthy windows, detection rate per fault class, and the ROC AUC healthy vs. faulty
(Mann-Whitney U / (n_pos n_neg), ties counted half). Pipeline side only: no edge bundle yet.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_runtime.dsp_spec import DspSpec, apply_many, fit_normalization
from edge_runtime.errors import DataError
from pipeline.cwru import CLASSES_10, split_windows
from pipeline.vibration import VibrationConfig, load_records


@dataclass
class AnomalyConfig:
    model: str = "dense_ae"  # flatten -> 64 -> code 8 -> 64 -> reshape
    kind: str = "log_mel"  # (40, 29, 1): compact enough for a dense autoencoder
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    quantile: float = 0.99  # threshold: 1 % false alarms on held-out healthy calibration windows
    calibration: float = 0.25  # last fraction of healthy training windows kept out of the fit


def auc(neg: np.ndarray, pos: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties 1/2 (the ROC area)."""
    neg, pos = np.asarray(neg, np.float64), np.asarray(pos, np.float64)
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def anomaly_run(cfg: AnomalyConfig, vcfg: VibrationConfig, run_dir, data_dir=None) -> dict:
    """Fit the autoencoder on healthy training windows, score every validation window; metrics.json."""
    from models import create_model
    from models.autoencoder import anomaly_score
    from models.kerasapi import keras, tf
    from pipeline.train import make_optimizer

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    records, source = load_records(vcfg, run_dir, data_dir)
    split = split_windows(records, vcfg.window, vcfg.hop, vcfg.train_fraction)
    healthy = split.x_train[split.y_train == 0]
    if len(healthy) < 8 or not np.any(split.y_val == 0):
        raise DataError(f"{source}: {len(healthy)} healthy training windows; need >= 8 and healthy validation windows")
    spec = fit_normalization(DspSpec(kind=cfg.kind, window=vcfg.window, hop=vcfg.hop), healthy, "per_bin")
    cut = int(round(len(healthy) * (1 - cfg.calibration)))  # one recording per load: windows in time order
    feats, xv = apply_many(spec, healthy), apply_many(spec, split.x_val)
    xt, xc = feats[:cut], feats[cut:]
    tf.keras.utils.set_random_seed(vcfg.seed)
    model = create_model(cfg.model, xt.shape[1:], task="reconstruct")
    model.compile(make_optimizer("adam", cfg.lr), "mse")
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
    model.fit(xt, xt, epochs=cfg.epochs, batch_size=cfg.batch_size, callbacks=[stop], verbose=0)
    threshold = float(np.quantile(anomaly_score(model, xc), cfg.quantile))
    scores = anomaly_score(model, xv)
    flagged, y = scores > threshold, split.y_val
    metrics = {"data": source, "healthy_train_windows": len(xt),
               "calibration_windows": len(xc), "val_windows": len(xv), "threshold": threshold,
               "false_alarm_rate": float(flagged[y == 0].mean()), "detection_rate": float(flagged[y != 0].mean()),
               "detection_by_class": {CLASSES_10[k]: float(flagged[y == k].mean()) for k in np.unique(y) if k},
               "auc": auc(scores[y == 0], scores[y != 0]), "config": asdict(cfg)}
    model.save(run_dir / "anomaly_model.keras")
    (run_dir / "anomaly_dsp_spec.json").write_text(json.dumps(spec.to_dict(), indent=2))
    (run_dir / "anomaly_metrics.json").write_text(json.dumps(metrics, indent=2))
    np.savez(run_dir / "anomaly_scores.npz", score=scores, y=y)  # the report's ROC curve
    return metrics
