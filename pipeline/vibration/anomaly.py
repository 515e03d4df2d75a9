"""Vibration anomaly detection: an autoencoder (dense or VAE) trained on healthy (class `normal`) windows only.

Score = mean squared reconstruction error of the normalized log-mel features (edge_runtime.dsp.
reconstruction_mse, the same numpy code the device runs). For the VAE (models.vae, Kingma & Welling
2014) the reconstruction is the decoder at the posterior mean, x̂ = g(μ(x)): deterministic, one
network, and the dominant term of the negative ELBO (the KL term is reported next to it as
`auc_elbo`, pipeline side only).
Threshold = the `quantile` of the scores of held-out healthy calibration windows (the last
`calibration` fraction, in time, of the healthy training windows; the autoencoder never fits them,
since its own training windows score too low: 89 % false alarms on real CWRU). Every bundle gets
the threshold of its own scores (an int8 reconstruction is coarser than Keras'), so no fault window
and no validation window is used to fit anything. Reported on the validation time segments
(cwru.split_windows): the 2×2 confusion at the threshold, false-alarm rate on healthy windows,
detection rate per fault class, and the ROC AUC healthy vs. faulty (Mann-Whitney U / (n_pos n_neg),
ties counted half), for Keras and for every bundle in its runtime.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from prognos.edge_runtime.dsp import reconstruction_mse
from prognos.edge_runtime.dsp_spec import DspSpec, apply_many, fit_normalization
from prognos.edge_runtime.errors import ConfigError, DataError
from prognos.pipeline.data.cwru import CLASSES_10, split_windows
from prognos.pipeline.vibration.train import VibrationConfig, load_records

MODELS = ("dense_ae", "vae")


@dataclass
class AnomalyConfig:
    model: str = "dense_ae"  # dense_ae: flatten -> 64 -> code 8 -> 64 -> reshape; vae: same widths, latent 8
    hparams: dict = field(default_factory=dict)  # builder arguments; the VAE defaults to latent_dim 8
    kind: str = "log_mel"  # (40, 29, 1): compact enough for a dense autoencoder
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    quantile: float = 0.99  # threshold: 1 % false alarms on held-out healthy calibration windows
    calibration: float = 0.25  # last fraction of healthy training windows kept out of the fit
    formats: list = field(default_factory=lambda: ["tflite_fp32", "tflite_int8"])

    def __post_init__(self):
        if self.model not in MODELS:
            raise ConfigError(f"anomaly model {self.model!r}; expected one of {', '.join(MODELS)}")
        if not 0 < self.quantile <= 1:
            raise ConfigError(f"quantile must be in (0, 1], got {self.quantile!r}")


def auc(neg: np.ndarray, pos: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties 1/2 (the ROC area)."""
    neg, pos = np.asarray(neg, np.float64), np.asarray(pos, np.float64)
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def report(scores: np.ndarray, threshold: float, y: np.ndarray) -> dict:
    """AUC, the confusion at the threshold ([[healthy ok, false alarm], [missed, detected]]) and rates."""
    flagged, faulty = scores > threshold, y != 0
    return {
        "threshold": float(threshold),
        "auc": auc(scores[~faulty], scores[faulty]),
        "confusion": [
            [int(np.sum(~faulty & ~flagged)), int(np.sum(~faulty & flagged))],
            [int(np.sum(faulty & ~flagged)), int(np.sum(faulty & flagged))],
        ],
        "false_alarm_rate": float(flagged[~faulty].mean()),
        "detection_rate": float(flagged[faulty].mean()),
        "detection_by_class": {CLASSES_10[k]: float(flagged[y == k].mean()) for k in np.unique(y) if k},
    }


def fit_autoencoder(cfg: AnomalyConfig, xt: np.ndarray, seed: int, log_dir=None):
    """Train `cfg.model` on healthy windows (early stopping on training loss); returns the scoring network
    x -> x̂ (for the VAE: decoder(μ(x))) and the trained model."""
    from prognos.models import create_model
    from prognos.models.kerasapi import keras, tf
    from prognos.pipeline import tracking
    from prognos.pipeline.rul.train import make_optimizer

    tf.keras.utils.set_random_seed(seed)
    hparams = ({"latent_dim": 8} if cfg.model == "vae" else {}) | cfg.hparams
    model = create_model(cfg.model, xt.shape[1:], task="reconstruct", **hparams)
    model.compile(make_optimizer("adam", cfg.lr), None if cfg.model == "vae" else "mse")
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
    logs = [] if log_dir is None else tracking.callbacks(log_dir, {"model": cfg.model, "epochs": cfg.epochs})
    model.fit(xt, xt, epochs=cfg.epochs, batch_size=cfg.batch_size, callbacks=[stop, *logs], verbose=0)
    if cfg.model != "vae":
        return model, model
    enc, dec = model.encoder, model.decoder
    return keras.Model(enc.inputs, dec(enc.outputs[0]), name="vae_posterior_mean"), model


def elbo_scores(vae, x: np.ndarray) -> np.ndarray:
    """Per-window negative ELBO at the posterior mean: ‖x − g(μ)‖² + β·KL(q(z|x) ‖ N(0, I))."""
    mu, log_var = (np.asarray(a, np.float64) for a in vae.encoder.predict(x, verbose=0))
    x_hat = vae.decoder.predict(mu.astype(np.float32), verbose=0)
    kl = -0.5 * np.sum(1.0 + log_var - mu**2 - np.exp(log_var), axis=1)
    return reconstruction_mse(x, x_hat) * x[0].size + vae.beta * kl


def export_anomaly_bundles(cfg: AnomalyConfig, net, spec: DspSpec, xt, xc, run_dir: Path, y, xv) -> dict:
    """One bundle per format with the threshold of its own calibration scores; {format: report}."""
    from prognos.edge_runtime.backends import open_backend
    from prognos.export.bundle import write_bundle
    from prognos.export.formats import get_formats

    out = {}
    for fmt in get_formats(cfg.formats):
        data = fmt.write(net, xt[:256] if fmt.quantized else None)
        backend = open_backend(data, fmt.suffix, name=fmt.name)
        threshold = float(np.quantile(_scores(backend, xc), cfg.quantile))
        path = write_bundle(
            run_dir / "anomaly_bundles" / fmt.name,
            data,
            fmt,
            None,
            {},
            {"run": str(run_dir), "model": cfg.model},
            task="anomaly",
            preprocessing={"dsp": spec.to_dict(), "doc": "prognos.edge_runtime.dsp_spec.apply per window"},
            postprocessing={
                "score": "reconstruction_mse",
                "threshold": threshold,
                "quantile": cfg.quantile,
                "doc": "score = mean((x - model(x))^2) over the DSP features; anomalous if score > "
                f"threshold (the {cfg.quantile} quantile of held-out healthy windows)",
            },
        )
        out[fmt.name] = {"bundle": str(path), **report(_scores(backend, xv), threshold, y)}
    return out


def _scores(backend, x):
    """Reconstruction MSE of windows `x` through the artifact's own runtime."""
    return reconstruction_mse(x, backend.run(np.asarray(x, np.float32)))


def anomaly_run(cfg: AnomalyConfig, vcfg: VibrationConfig, run_dir, data_dir=None) -> dict:
    """Fit the autoencoder on healthy training windows, score every validation window, export bundles."""
    from prognos.models.autoencoder import anomaly_score

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    records, source = load_records(vcfg, run_dir, data_dir)
    split = split_windows(records, vcfg.window, vcfg.hop, vcfg.train_fraction)
    healthy = split.x_train[split.y_train == 0]
    if len(healthy) < 8 or not np.any(split.y_val == 0):
        raise DataError(f"{source}: {len(healthy)} healthy training windows; need >= 8 and healthy validation windows")
    spec = fit_normalization(DspSpec(kind=cfg.kind, window=vcfg.window, hop=vcfg.hop), healthy, "per_bin")
    cut = int(round(len(healthy) * (1 - cfg.calibration)))  # one recording per load: windows in time order
    feats, xv, y = apply_many(spec, healthy), apply_many(spec, split.x_val), split.y_val
    xt, xc = feats[:cut], feats[cut:]
    net, model = fit_autoencoder(cfg, xt, vcfg.seed, log_dir=run_dir / "tb" / "autoencoder")
    threshold = float(np.quantile(anomaly_score(net, xc), cfg.quantile))
    scores = anomaly_score(net, xv)
    metrics = {
        "data": source,
        "model": cfg.model,
        "healthy_train_windows": len(xt),
        "calibration_windows": len(xc),
        "val_windows": len(xv),
        "keras": report(scores, threshold, y),
    }
    if cfg.model == "vae":
        metrics["auc_elbo"] = auc(*(elbo_scores(model, xv[m]) for m in (y == 0, y != 0)))
    net.save(run_dir / "anomaly_model.keras")
    (run_dir / "anomaly_dsp_spec.json").write_text(json.dumps(spec.to_dict(), indent=2))
    metrics["bundles"] = export_anomaly_bundles(cfg, net, spec, xt, xc, run_dir, y, xv)
    metrics["config"] = asdict(cfg)
    (run_dir / "anomaly_metrics.json").write_text(json.dumps(metrics, indent=2))
    np.savez(run_dir / "anomaly_scores.npz", score=scores, y=y)  # the report's ROC curve
    return metrics
