"""Simulated pump fleet as a user would export it: a CSV with named columns, hourly ISO timestamps,
operating regimes, censored assets, a failures file and the schema.toml that describes them.

Damage grows as in the turbofan simulator (pipeline.data.simulate: exponential wear toward failure,
after Saxena et al. 2008). Each hour an asset runs in one of a few operating regimes (a sticky
Markov chain); the three setting columns sit near the regime's point, and every sensor is shifted by
the regime far more than by wear, as in C-MAPSS FD002/FD004, so raw values hardly correlate with age.
Some assets are censored (their data stop before failure: no failure event). Some sensor cells are
empty and some hours missing, isolated, so the reader's fill rules are exercised; one column is
constant and two are text (left out by sensors = "auto"): the site, and `mode`, the true regime name,
which the schema does not declare (the regime step finds the regimes from the settings; declare
regime = "mode" to use the labels instead). Seeded and deterministic.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import ConfigError

SETTINGS = ("load_pct", "speed_rpm", "ambient_c")
REGIME_POINTS = np.array(
    [[40, 1200, 10], [60, 1500, 15], [80, 1800, 20], [100, 3000, 25], [20, 900, 30], [70, 2400, 35]], float
)  # regime -> (load %, speed rpm, ambient degC)
REGIME_NAMES = ("part-load", "nominal", "high", "full", "low", "boost")  # the `mode` column (not in the schema)
SETTING_NOISE = np.array([0.5, 5.0, 0.3])
# sensor: (base, response to (load, speed, ambient) per unit of each setting, noise, drift at failure
#          in noise units (sign = direction), decimals)
SENSORS = {
    "bearing_temp_c": (40.0, (0.20, 0.004, 0.6), 0.4, 5.0, 2),
    "oil_temp_c": (35.0, (0.15, 0.003, 0.8), 0.3, 4.0, 2),
    "inlet_pressure_bar": (2.0, (0.005, 0.0002, 0.0), 0.02, 0.0, 3),
    "outlet_pressure_bar": (4.0, (0.05, 0.002, 0.0), 0.03, -4.0, 3),
    "flow_m3h": (50.0, (0.4, 0.02, 0.0), 0.5, -4.5, 2),
    "vibration_mm_s": (1.0, (0.01, 0.0008, 0.0), 0.08, 5.0, 3),
    "motor_current_a": (20.0, (0.3, 0.005, 0.05), 0.2, 4.0, 2),
    "power_kw": (10.0, (0.25, 0.004, 0.0), 0.15, 3.5, 2),
    "seal_leak_ml_h": (0.5, (0.002, 0.0001, 0.0), 0.05, 4.0, 3),
    "noise_db": (70.0, (0.05, 0.004, 0.0), 0.5, 0.0, 1),
}
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


@dataclass
class SimAsset:
    """One simulated asset as written: rows in hours, the cells left empty and the hours left out."""

    id: str
    start: datetime  # the hour of its first row
    minute: np.ndarray  # int per row: minutes past the hour of the reading
    regime: np.ndarray  # int per row
    settings: np.ndarray  # (rows, 3), rounded as written
    sensors: np.ndarray  # (rows, len(SENSORS)), rounded as written
    failed: bool  # ran to failure at its last row; False: censored
    life: int  # hours from the first row to failure (beyond the last row when censored)
    blank: np.ndarray  # bool (rows, len(SENSORS)): cell written empty
    gap: np.ndarray  # bool per row: row not written (an isolated missing hour)


def _regimes(rng, n: int, k: int) -> np.ndarray:
    """A sticky Markov chain: stays in its regime with probability 0.7 each hour."""
    out = np.empty(n, np.int64)
    out[0] = rng.integers(k)
    change, new = rng.random(n) > 0.7, rng.integers(k, size=n)
    for i in range(1, n):
        out[i] = new[i] if change[i] else out[i - 1]
    return out


def _asset(rng, i: int, k: int, censored: bool) -> SimAsset:
    life = int(np.clip(128 + rng.gamma(2.0, 40.0), 128, 420))
    n = max(40, int(rng.uniform(0.3, 0.9) * life)) if censored else life
    regime = _regimes(rng, n, k)
    settings = REGIME_POINTS[regime] + rng.normal(0, SETTING_NOISE, (n, 3))
    t = np.arange(1, n + 1)
    d0, rate, power = rng.uniform(0, 0.1), rng.uniform(2.0, 4.0), rng.uniform(1.0, 1.5)
    damage = d0 + (1 - d0) * (np.exp(rate * t / life) - 1) / (np.exp(rate) - 1)
    cols = []
    for base, response, noise, drift, decimals in SENSORS.values():
        value = (
            base
            + (settings - REGIME_POINTS[0]) @ np.asarray(response)
            + rng.normal(0, 0.2 * noise)
            + 1.5 * drift * noise * damage**power
            + rng.normal(0, noise, n)
        )
        cols.append(np.round(value, decimals))
    blank = rng.random((n, len(SENSORS))) < 0.003
    gap = rng.random(n) < 0.005
    gap[[0, -1]] = False
    gap[1:] &= ~gap[:-1]  # isolated
    start = START + timedelta(hours=int(rng.integers(0, 24 * 60)))
    return SimAsset(
        f"pump-{i:03d}",
        start,
        rng.integers(0, 50, n),
        regime,
        np.column_stack([np.round(settings[:, j], d) for j, d in enumerate((1, 0, 1))]),
        np.column_stack(cols),
        not censored,
        life,
        blank,
        gap,
    )


def simulate_assets(
    n_assets: int = 60, seed: int = 0, regimes: int = 6, censored: float = 0.25, test: bool = False
) -> list[SimAsset]:
    """Training fleet (a `censored` share stops early) or, test=True, a fleet cut before failure."""
    if not 1 <= regimes <= len(REGIME_POINTS):
        raise ConfigError(f"regimes = {regimes}: expected 1..{len(REGIME_POINTS)}")
    rng = np.random.default_rng([seed, int(test)])
    cut = rng.random(n_assets) < censored if not test else np.ones(n_assets, bool)
    first = 501 if test else 1
    return [_asset(rng, first + i, regimes, bool(c)) for i, c in enumerate(cut)]


def _stamp(a: SimAsset, row: int, extra_minutes: int = 0) -> str:
    return (a.start + timedelta(hours=int(row), minutes=int(a.minute[row]) + extra_minutes)).isoformat(
        timespec="seconds"
    )


def _write_table(path: Path, assets: list[SimAsset]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["asset_id", "timestamp", *SETTINGS, *SENSORS, "firmware", "site", "mode"])
        for a in assets:
            rows = np.flatnonzero(~a.gap)
            site = "north" if int(a.id[-3:]) % 2 else "south, hall 2"  # a quoted field
            cols = [[a.id] * len(rows), [_stamp(a, r) for r in rows]]
            cols += [np.char.mod(f"%.{d}f", a.settings[rows, j]) for j, d in enumerate((1, 0, 1))]
            cols += [
                np.where(a.blank[rows, j], "", np.char.mod(f"%.{s[-1]}f", a.sensors[rows, j]))
                for j, s in enumerate(SENSORS.values())
            ]
            mode = np.asarray(REGIME_NAMES)[a.regime[rows]]
            w.writerows(zip(*cols, ["3"] * len(rows), [site] * len(rows), mode))


SCHEMA = """# Dataset spec of the simulated pump fleet (`prognos simulate-fleet`); docs/own-data.md explains each key.
files = "fleet.csv"
asset = "asset_id"
time = "timestamp"
resample = "1h"
settings = ["load_pct", "speed_rpm", "ambient_c"]
sensors = "auto"
failures = { events = "failures.csv", time = "failure_time" }
max_fill = 3
drop_constant = true
"""


def write_fleet(
    out, n_assets: int = 60, seed: int = 0, regimes: int = 6, censored: float = 0.25, n_test: int = 20
) -> Path:
    """fleet.csv, failures.csv, schema.toml; with n_test: test_fleet.csv and test_rul.csv (true RUL, hours)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    assets = simulate_assets(n_assets, seed, regimes, censored)
    _write_table(out / "fleet.csv", assets)
    with (out / "failures.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["asset_id", "failure_time"])
        w.writerows([a.id, _stamp(a, len(a.minute) - 1, 9)] for a in assets if a.failed)
    (out / "schema.toml").write_text(SCHEMA)
    if n_test:
        test = simulate_assets(n_test, seed, regimes, test=True)
        _write_table(out / "test_fleet.csv", test)
        (out / "test_rul.csv").write_text(
            "asset_id,rul_hours\n" + "".join(f"{a.id},{a.life - len(a.minute)}\n" for a in test)
        )
    return out
