"""GAN augmentation experiment: do conditional-GAN samples of rare fault classes help a classifier?

Protocol (one seed, one evaluation split for every arm):
    time-segment split of the recordings (cwru.split_windows) -> features: per-bin z-scored FFT
    magnitude up to `max_freq` (kind "fft", (bins, 1), the same numpy DSP as the device)
    -> rare classes keep only `keep` of their training windows (a seeded random subset)
    -> arms, each a fresh classifier (VibrationConfig.model, default a 1-D LeNet on the spectrum: position
       in frequency matters, so no global pooling; same seed, early stopping on the validation loss):
         real           the reduced training set as is
         oversampled    the rare classes' few real windows repeated up to `per_class` (the cheap control)
         gan            the reduced set + `per_class` - n_real cGAN windows per rare class
    -> validation accuracy (all classes, and on the rare classes alone) of every arm.
The cGAN (models.gan.cgan, Mirza & Osindero 2014) trains on the whole reduced training set,
conditioned on the 10-class label, so the rare classes borrow structure from the common ones.
Validation windows never reach the GAN. Either outcome is a result: the numbers are reported as measured.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from prognos.edge_runtime.dsp_spec import DspSpec, apply_many, fit_normalization
from prognos.edge_runtime.errors import ConfigError
from prognos.pipeline.data.cwru import CLASSES_10, split_windows
from prognos.pipeline.vibration.train import VibrationConfig, fit_classifier, load_records

ARMS = ("real", "oversampled", "gan")


@dataclass
class GanConfig:
    rare: list = field(default_factory=lambda: ["B007", "B014", "B021"])  # ball faults: the hardest family
    keep: float = 0.05  # fraction of the rare classes' training windows kept
    max_freq: float = 5994.2  # 12 kHz, 2048-sample window: bins 0..1023 (5.859 Hz apart) -> (1024, 1)
    gan_epochs: int = 150
    gan_batch: int = 64
    gan_lr: float = 2e-4  # DCGAN's Adam(2e-4, beta_1=0.5)
    latent_dim: int = 32
    per_class: int = 0  # rare-class windows after augmentation; 0 = the median count of the other classes

    def __post_init__(self):
        bad = [c for c in self.rare if c not in CLASSES_10[1:]]
        if bad or not self.rare:
            raise ConfigError(f"rare classes {bad or self.rare}; expected fault classes among {CLASSES_10[1:]}")
        if not 0 < self.keep < 1:
            raise ConfigError(f"keep must be a fraction in (0, 1), got {self.keep!r}")


def thin_rare(y: np.ndarray, rare_ids, keep: float, rng) -> np.ndarray:
    """Indices of the training windows kept: all of the common classes, `keep` (at least 2) of each rare one."""
    kept = [np.flatnonzero(~np.isin(y, rare_ids))]
    for k in rare_ids:
        idx = np.flatnonzero(y == k)
        kept.append(rng.choice(idx, max(2, int(round(keep * len(idx)))), replace=False))
    return np.sort(np.concatenate(kept))


def train_cgan(cfg: GanConfig, x: np.ndarray, y: np.ndarray, seed: int, steps: int | None = None):
    """Fit models.gan.cgan on (features, labels); `steps` caps the optimizer steps (smoke tests)."""
    from prognos.models import create_model
    from prognos.models.kerasapi import keras, tf

    tf.keras.utils.set_random_seed(seed)
    gan = create_model("cgan", x.shape[1:], task="generate", n_classes=len(CLASSES_10), latent_dim=cfg.latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(cfg.gan_lr, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(cfg.gan_lr, beta_1=0.5),
    )
    epochs = cfg.gan_epochs if steps is None else 1
    data = (x, y) if steps is None else (x[: steps * cfg.gan_batch], y[: steps * cfg.gan_batch])
    hist = gan.fit(*data, batch_size=cfg.gan_batch, epochs=epochs, shuffle=True, verbose=0)
    return gan, {k: [float(v) for v in vs] for k, vs in hist.history.items()}


def generate(gan, label: int, n: int) -> np.ndarray:
    """n generated feature windows of class `label`."""
    return np.asarray(gan.generator.predict(gan.latent(n, np.full(n, label)), verbose=0), np.float32)


def arm_sets(cfg: GanConfig, gan, x: np.ndarray, y: np.ndarray, rare_ids, rng) -> dict:
    """{arm: (x, y)} training sets with the same common-class windows."""
    per_class = cfg.per_class or int(np.median([np.sum(y == k) for k in np.unique(y) if k not in rare_ids]))
    sets = {"real": (x, y)}
    over_x, over_y, gan_x, gan_y = [x], [y], [x], [y]
    for k in rare_ids:
        extra = max(0, per_class - int(np.sum(y == k)))
        over_x.append(x[rng.choice(np.flatnonzero(y == k), extra)])
        over_y.append(np.full(extra, k))
        gan_x.append(generate(gan, k, extra))
        gan_y.append(np.full(extra, k))
    sets["oversampled"] = (np.concatenate(over_x), np.concatenate(over_y))
    sets["gan"] = (np.concatenate(gan_x), np.concatenate(gan_y))
    return sets


def gan_run(cfg: GanConfig, vcfg: VibrationConfig, run_dir, data_dir=None, gan_steps: int | None = None) -> dict:
    """Run the three arms; metrics in gan_metrics.json and returned."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    records, source = load_records(vcfg, run_dir, data_dir)
    split = split_windows(records, vcfg.window, vcfg.hop, vcfg.train_fraction)
    rng = np.random.default_rng(vcfg.seed)
    rare_ids = [CLASSES_10.index(c) for c in cfg.rare]
    kept = thin_rare(split.y_train, rare_ids, cfg.keep, rng)
    xr, y = split.x_train[kept], split.y_train[kept]
    spec = fit_normalization(DspSpec(kind="fft", window=vcfg.window, hop=vcfg.hop, max_freq=cfg.max_freq), xr)
    x, xv, yv = apply_many(spec, xr), apply_many(spec, split.x_val), split.y_val
    gan, gan_hist = train_cgan(cfg, x, y, vcfg.seed, gan_steps)
    metrics = {
        "data": source,
        "rare": cfg.rare,
        "input_shape": list(x.shape[1:]),
        "val_windows": len(xv),
        "train_windows": {c: int(np.sum(y == k)) for k, c in enumerate(CLASSES_10) if np.any(y == k)},
        "val_windows_per_class": {c: int(np.sum(yv == k)) for k, c in enumerate(CLASSES_10) if np.any(yv == k)},
        "gan_final": {k: v[-1] for k, v in gan_hist.items()},
        "arms": {},
    }
    rare_val = np.isin(yv, rare_ids)
    for arm, (xa, ya) in arm_sets(cfg, gan, x, y, rare_ids, rng).items():
        model, hist = fit_classifier(vcfg, xa, ya, xv, yv, log_dir=run_dir / "tb" / arm)
        pred = model.predict(xv, verbose=0).argmax(1)
        metrics["arms"][arm] = {
            "train_windows": len(xa),
            "epochs_run": len(hist["loss"]),
            "val_accuracy": float(np.mean(pred == yv)),
            "val_correct_rare": int(np.sum(pred[rare_val] == yv[rare_val])),
            "val_accuracy_rare": float(np.mean(pred[rare_val] == yv[rare_val])),
        }
        print(f"[prognos] gan experiment, arm {arm}: {json.dumps(metrics['arms'][arm])}", flush=True)
    metrics["config"] = {"gan": asdict(cfg), "classifier": asdict(vcfg)}
    (run_dir / "gan_metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
