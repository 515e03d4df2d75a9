"""Health monitoring for fleets without recorded failures: an autoencoder on early, healthy windows.

With no failure there is no remaining useful life to learn; what can be learnt is what each asset
looked like while healthy. The declared healthy period is the first `healthy_share` of every asset's
history. Assets are split three ways: the autoencoder (models `dense_ae`, as in
pipeline.vibration.anomaly) fits the healthy windows of the first group; the alarm threshold is the
`quantile` of the reconstruction errors of the second group's healthy windows (held out: the network
never saw them); the third group measures what a user gets: the false-alarm rate on its healthy
windows and, for its assets that did fail, how many cycles before failure the debounced alarm (k of
the last n windows above the threshold, as the device's alert rule) first rose after the healthy
period. Rows are normalized as for RUL (regimes included: edge_runtime.features.Preprocessor), so
the `anomaly` bundle is served row by row by `prognos-edge predict` / `serve` with alerts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from prognos.edge_runtime.dsp import reconstruction_mse
from prognos.edge_runtime.errors import DataError
from prognos.edge_runtime.features import Preprocessor
from prognos.pipeline.config import DataConfig
from prognos.pipeline.data.dataset import _fit_regimes, feature_matrix, rows_of, window_index
from prognos.pipeline.data.tables import table_of_fleet


@dataclass
class HealthConfig:
    healthy_share: float = 0.3  # the first 30 % of each asset's history is declared healthy
    window: int = 30  # cycles per window (capped at the shortest healthy period)
    epochs: int = 30
    quantile: float = 0.99  # threshold: ~1 % of held-out healthy windows above it
    alarm_k: int = 3  # alarm: k of the last n windows above the threshold (the bundle's alert rule)
    alarm_n: int = 5
    seed: int = 0


def healthy_rows(table: np.ndarray, share: float) -> np.ndarray:
    """The first `share` of each asset's rows (rows sorted by asset, time)."""
    _, first, count = np.unique(table[:, 0], return_index=True, return_counts=True)
    keep = np.zeros(len(table), bool)
    for f, c in zip(first, count):
        keep[f : f + max(1, int(np.ceil(share * c)))] = True
    return table[keep]


def split_assets(table: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    units = np.random.default_rng(seed).permutation(np.unique(table[:, 0]).astype(int))
    if len(units) < 3:
        raise DataError(f"health monitoring needs at least 3 assets (fit, threshold, check); got {len(units)}")
    a, b = max(1, int(0.6 * len(units))), max(2, int(0.8 * len(units)))
    b = min(b, len(units) - 1)
    return np.sort(units[:a]), np.sort(units[a:b]), np.sort(units[b:])


def fit_health_preprocessor(rows: np.ndarray, layout, cfg: HealthConfig, window: int) -> Preprocessor:
    """Regimes and per-feature statistics of healthy rows; features = the sensors that vary."""
    regimes = _fit_regimes(rows, DataConfig(seed=cfg.seed), layout)
    x = feature_matrix(rows, layout.sensors, layout.columns)
    z = (
        x
        if regimes is None
        else regimes.normalize(x, regimes.assign(feature_matrix(rows, regimes.settings, layout.columns))[0])
    )
    keep = [i for i in range(len(layout.sensors)) if z[:, i].std() > 1e-6]
    if not keep:
        raise DataError("health monitoring: every sensor is constant over the healthy period")
    features = [layout.sensors[i] for i in keep]
    mean, std = x[:, keep].mean(0), np.maximum(x[:, keep].std(0), 1e-6)
    if regimes is not None:
        from dataclasses import replace

        regimes = replace(
            regimes, mean=np.asarray(regimes.mean)[:, keep].tolist(), std=np.asarray(regimes.std)[:, keep].tolist()
        )
        mean, std = np.zeros(len(keep)), np.ones(len(keep))
    return Preprocessor(
        features,
        mean.tolist(),
        std.tolist(),
        window,
        1.0,
        selection={"rule": "sensors that vary over the healthy period of the fitting assets"},
        regimes=regimes.to_dict() if regimes else {},
        columns=list(layout.columns),
        time=dict(layout.time),
    )


def alarm_times(scores: np.ndarray, threshold: float, k: int, n: int) -> np.ndarray:
    """Positions where at least k of the last n scores exceed the threshold."""
    above = (scores > threshold).astype(int)
    return np.flatnonzero(np.convolve(above, np.ones(n, int))[: len(above)] >= k)


def lead_times(table, pre, units, failed, start, net, threshold, cfg: HealthConfig) -> dict:
    """Per failed check asset: cycles from the first alarm after its healthy period to its failure."""
    out = {}
    for u in units[failed[units - 1]]:
        idx = window_index(rows_of(table, [u]), pre)
        scores = reconstruction_mse(idx.x, net.predict(idx.x, verbose=0))
        times = idx.cycle
        alarms = [i for i in alarm_times(scores, threshold, cfg.alarm_k, cfg.alarm_n) if times[i] > start[u]]
        out[int(u)] = float(times[-1] - times[alarms[0]]) if alarms else None
    return out


def health_run(fleet, run_dir, cfg: HealthConfig | None = None) -> dict:
    from prognos.pipeline.rul.health_bundle import export_health_bundle
    from prognos.pipeline.vibration.anomaly import AnomalyConfig, fit_autoencoder

    cfg, run_dir = cfg or HealthConfig(), Path(run_dir)
    table, layout = table_of_fleet(fleet, failed_only=False)
    healthy = healthy_rows(table, cfg.healthy_share)
    lengths = np.unique(healthy[:, 0], return_counts=True)[1]
    window = int(min(cfg.window, max(2, lengths.min())))
    fit_u, cal_u, chk_u = split_assets(table, cfg.seed)
    pre = fit_health_preprocessor(rows_of(healthy, fit_u), layout, cfg, window)
    xt, xc, xh = (window_index(rows_of(healthy, u), pre).x for u in (fit_u, cal_u, chk_u))
    net, _ = fit_autoencoder(AnomalyConfig(epochs=cfg.epochs), xt, cfg.seed)
    score = lambda x: reconstruction_mse(x, net.predict(x, verbose=0))  # noqa: E731
    threshold = float(np.quantile(score(xc), cfg.quantile))
    start = {int(u): healthy[healthy[:, 0] == u, 1].max() for u in chk_u}
    leads = lead_times(table, pre, chk_u, fleet.failed, start, net, threshold, cfg)
    metrics = {
        "config": asdict(cfg),
        "window": window,
        "features": pre.features,
        "regimes": len(pre.regimes.get("centroids", [])) or 1,
        "assets": {"fit": fit_u.tolist(), "threshold": cal_u.tolist(), "check": chk_u.tolist()},
        "windows": {"fit": len(xt), "threshold": len(xc), "check_healthy": len(xh)},
        "threshold": threshold,
        "false_alarm_rate_check_healthy": float((score(xh) > threshold).mean()),
        "cycles_before_failure_alarm_rose": leads,
    }
    bundle = export_health_bundle(net, pre, xt, xc, cfg, run_dir)
    return {**metrics, "bundle": str(bundle)}
