"""Turbofan fleet simulator: the embedded default dataset, written in the C-MAPSS text format.

Each unit has a random life, a random initial wear d0 and manufacturing scatter (a fixed offset per
sensor). Its damage grows exponentially toward failure, as in the C-MAPSS generation model
(Saxena et al. 2008: health index 1 - d0 - exp(a t^b)):

    D(t) = d0 + (1 - d0) * (exp(k t / L) - 1) / (exp(k) - 1),   D(L) = 1 at failure.

Fourteen sensors (those informative in FD001) drift with D(t)^p, in either direction; seven stay
constant; the three operational settings are small noise around one operating condition. Every
sensor has Gaussian noise. Training units run to failure; test units are cut off at a random point
and their true RUL is written to RUL_<subset>.txt. Seeded and deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prognos.edge_runtime.schema import SENSORS

# sensor: (base value, noise std, drift at failure in noise units (sign = direction), decimals)
SENSOR_MODEL = {
    "s1": (518.67, 0.0, 0, 2),
    "s2": (642.2, 0.35, 4.0, 2),
    "s3": (1585.0, 4.5, 3.5, 2),
    "s4": (1400.0, 6.0, 4.0, 2),
    "s5": (14.62, 0.0, 0, 2),
    "s6": (21.61, 0.0, 0, 2),
    "s7": (554.2, 0.6, -4.0, 2),
    "s8": (2388.0, 0.05, 4.0, 2),
    "s9": (9050.0, 15.0, 3.0, 2),
    "s10": (1.3, 0.0, 0, 2),
    "s11": (47.3, 0.18, 4.5, 2),
    "s12": (522.0, 0.5, -4.0, 2),
    "s13": (2388.0, 0.05, 4.0, 2),
    "s14": (8135.0, 12.0, 3.0, 2),
    "s15": (8.41, 0.025, 4.0, 4),
    "s16": (0.03, 0.0, 0, 2),
    "s17": (392.0, 1.0, 3.5, 0),
    "s18": (2388.0, 0.0, 0, 0),
    "s19": (100.0, 0.0, 0, 2),
    "s20": (38.95, 0.12, -4.0, 2),
    "s21": (23.37, 0.07, -4.0, 4),
}
assert list(SENSOR_MODEL) == SENSORS


def _unit_array(rng: np.random.Generator, unit: int, life: int, n_cycles: int) -> np.ndarray:
    d0 = rng.uniform(0.0, 0.1)
    k = rng.uniform(2.0, 4.0)
    power = rng.uniform(1.0, 1.5)
    t = np.arange(1, n_cycles + 1)
    damage = d0 + (1 - d0) * (np.exp(k * t / life) - 1) / (np.exp(k) - 1)
    cols = [
        np.full(n_cycles, float(unit)),
        t.astype(float),
        rng.normal(0, 0.0022, n_cycles),
        rng.normal(0, 0.0003, n_cycles),
        np.full(n_cycles, 100.0),
    ]
    for base, noise, drift, decimals in SENSOR_MODEL.values():
        scatter = rng.normal(0, 0.2 * noise)
        value = base + scatter + 1.5 * drift * noise * damage**power + rng.normal(0, noise, n_cycles)
        cols.append(np.round(value, decimals))
    return np.column_stack(cols)


def _units(n_units: int, seed: int, test: bool):
    """Yield (unit rows as a (cycles, 26) array, true RUL or None), one unit at a time."""
    rng = np.random.default_rng([seed, int(test)])
    for unit in range(1, n_units + 1):
        life = int(np.clip(128 + rng.gamma(2.0, 40.0), 128, 420))
        n = max(31, int(rng.uniform(0.3, 0.95) * life)) if test else life
        yield _unit_array(rng, unit, life, n), (life - n if test else None)


def simulate_fleet(n_units: int, seed: int, test: bool = False):
    """Rows of a fleet (list of 26-value rows) and, for test fleets, the true RUL per unit."""
    rows, true_rul = [], []
    for arr, rul in _units(n_units, seed, test):
        rows.extend(arr.tolist())
        true_rul.append(rul)
    return rows, (np.asarray(true_rul) if test else None)


def simulate_table(n_units: int, seed: int = 0) -> np.ndarray:
    """The training fleet of `simulate_fleet` as one (rows, 26) float64 array, built in memory.

    Same random stream and values as the text files before their 4-decimal formatting; meant for
    scale runs (10,000 units are ~2M rows: the text round trip would dominate the run time).
    """
    return np.concatenate([arr for arr, _ in _units(n_units, seed, test=False)])


def _write_rows(path: Path, rows):
    with path.open("w") as f:
        for r in rows:
            f.write(" ".join(str(int(v)) if i < 2 else f"{v:.4f}".rstrip("0").rstrip(".") for i, v in enumerate(r)))
            f.write(" \n")  # C-MAPSS rows end with trailing spaces


def write_dataset(out_dir, n_train: int = 100, n_test: int = 100, seed: int = 0, subset: str = "SIM") -> Path:
    """Write train_<subset>.txt, test_<subset>.txt and RUL_<subset>.txt into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, _ = simulate_fleet(n_train, seed)
    test, rul = simulate_fleet(n_test, seed, test=True)
    _write_rows(out / f"train_{subset}.txt", train)
    _write_rows(out / f"test_{subset}.txt", test)
    (out / f"RUL_{subset}.txt").write_text("".join(f"{int(r)}\n" for r in rul))
    return out
