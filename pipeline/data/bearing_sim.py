"""Bearing vibration simulator: the embedded default dataset, written as CWRU-named .mat files.

A localized fault makes the rolling elements strike it once per pass; each strike rings the
structure's resonances (decaying sinusoids), and the strike train is modulated by the load
distribution (McFadden & Smith 1984, "Model for the vibration produced by a single point defect in
a rolling element bearing", JSV 96; Randall & Antoni 2011, MSSP 25, section 2):

    x(t) = sum_k A_k h(t - t_k) + shaft harmonics + machine noise
    h(t) = sum_r g_r exp(-zeta_r 2 pi f_r t) sin(2 pi f_r t)       (resonances table below)
    t_{k+1} = t_k + (1 + eps_k) / f_fault,  eps_k ~ N(0, slip)     (rolling elements slip 1-2 %)
    A_k = A (1 + m cos(2 pi f_mod t_k + phi)) * lognormal(0.1)

Fault frequencies are the kinematic orders of a bearing geometry (`edge_runtime.bearings`; default
the SKF 6205 drive-end bearing of the CWRU rig) times the shaft speed: inner race BPFI (modulated at
shaft speed as the fault turns through the load zone), outer race at 6 o'clock BPFO (fixed in the
load zone: no modulation), ball 2 x BSF (a spall strikes both races once per spin) modulated at the
cage speed FTF. Impact amplitude grows with fault size. A second machine, the fan-end SKF 6203,
rings other resonances (its own housing and accelerometer), so a model that learned the 6205's
frequencies in Hz has nothing to hold on to there. Speeds by load are the CWRU table
(pipeline.cwru.NOMINAL_RPM). Seeded and deterministic: each file depends only on (seed, class,
load) and the bearing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prognos.edge_runtime.bearings import Bearing, get_bearing
from prognos.edge_runtime.errors import ConfigError
from prognos.pipeline.data.cwru import CLASSES_10, NOMINAL_RPM, SAMPLE_RATE, SIZES_MILS

BEARING_6205 = get_bearing("6205").orders()  # x shaft Hz
RESONANCES = ((3000.0, 0.02, 1.0), (3900.0, 0.025, 0.5))  # (Hz, damping ratio, gain); CWRU: 2.5-4.5 kHz
MACHINE_RESONANCES = {
    "6205": RESONANCES,  # drive end; the fan end's housing rings lower and higher
    "6203": ((1800.0, 0.02, 1.0), (4800.0, 0.03, 0.7)),
}
# fault: (code, (order, multiple): impacts per shaft rev, modulation order (None: shaft 1x; "": none),
# modulation depth, amplitude g)
FAULT_MODEL = {
    "inner_race": ("IR", ("BPFI", 1), None, 0.5, 1.0),
    "ball": ("B", ("BSF", 2), "FTF", 0.5, 0.2),
    "outer_race": ("OR", ("BPFO", 1), "", 0.0, 1.2),
}


def fault_rates(fault: str, bearing: Bearing) -> tuple[float, float]:
    """(impacts per shaft revolution, modulation cycles per shaft revolution) of a fault on `bearing`."""
    _, (order, multiple), mod, _, _ = FAULT_MODEL[fault]
    o = bearing.orders()
    return multiple * o[order], 1.0 if mod is None else (o[mod] if mod else 0.0)


SIZE_GAIN = {7: 1.0, 14: 1.4, 21: 1.8}  # impact amplitude grows with the spall diameter (mils)
RECORDING_BASE = {
    "normal": 97,
    "IR007": 105,
    "IR014": 169,
    "IR021": 209,
    "B007": 118,
    "B014": 185,
    "B021": 222,
    "OR007": 130,
    "OR014": 197,
    "OR021": 234,
}  # CWRU numbers at 0 HP; +load


def impulse_response(sample_rate: float = SAMPLE_RATE, seconds: float = 0.02, resonances=RESONANCES) -> np.ndarray:
    """h(t): the structure's decaying resonances, peak gain ~1."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return sum(g * np.exp(-z * 2 * np.pi * f * t) * np.sin(2 * np.pi * f * t) for f, z, g in resonances)


def _impact_train(
    rng, n: int, shaft_hz: float, fault: str, size_mils: int, load_hp: int, slip: float, bearing: Bearing
) -> np.ndarray:
    """Impulses of amplitude A_k at the (slipping) fault times, split linearly between two samples."""
    _, _, _, depth, amp = FAULT_MODEL[fault]
    per_rev, mod_per_rev = fault_rates(fault, bearing)
    period = SAMPLE_RATE / (per_rev * shaft_hz)  # samples between impacts
    count = int(n / period) + 2
    times = rng.uniform(0, period) + np.cumsum(period * (1 + rng.normal(0, slip, count)))
    times = times[times < n - 1]
    phase = 2 * np.pi * mod_per_rev * shaft_hz * times / SAMPLE_RATE + rng.uniform(0, 2 * np.pi)
    a = amp * SIZE_GAIN[size_mils] * (1 + 0.05 * load_hp) * (1 + depth * np.cos(phase))
    a *= rng.lognormal(0.0, 0.1, len(times))
    train = np.zeros(n)
    i, frac = np.floor(times).astype(int), times % 1
    np.add.at(train, i, a * (1 - frac))
    np.add.at(train, i + 1, a * frac)
    return train


def simulate_recording(
    fault: str,
    size_mils: int,
    load_hp: int,
    seconds: float,
    seed: int,
    slip: float = 0.015,
    noise: float = 0.02,
    bearing="6205",
) -> np.ndarray:
    """Acceleration (g, float64) at the bearing of one recording at 12 kHz; fault 'normal' has no impacts.

    `bearing`: a name, TOML file or Bearing (edge_runtime.bearings.get_bearing); its resonances are
    MACHINE_RESONANCES[name], else the drive end's.
    """
    bearing = get_bearing(bearing)
    if fault != "normal" and (fault not in FAULT_MODEL or size_mils not in SIZE_GAIN):
        raise ConfigError(
            f"fault {fault!r} size {size_mils!r}: expected 'normal' or one of "
            f"{', '.join(FAULT_MODEL)} with size 7, 14 or 21 mils"
        )
    if load_hp not in NOMINAL_RPM or not seconds > 0:
        raise ConfigError(f"load_hp={load_hp!r}, seconds={seconds!r}: expected a load of 0-3 HP and seconds > 0")
    label = 0 if fault == "normal" else CLASSES_10.index(f"{FAULT_MODEL[fault][0]}{size_mils:03d}")
    rng = np.random.default_rng([seed, label, load_hp])
    n = int(seconds * SAMPLE_RATE)
    shaft_hz = NOMINAL_RPM[load_hp] / 60
    t = np.arange(n) / SAMPLE_RATE
    x = sum(a * np.sin(2 * np.pi * k * shaft_hz * t + rng.uniform(0, 2 * np.pi)) for k, a in ((1, 0.03), (2, 0.015)))
    machine = np.exp(-0.1 * 2 * np.pi * 1100 * t[:200]) * np.sin(2 * np.pi * 1100 * t[:200])
    x = x + 0.02 * np.convolve(rng.normal(0, 1, n), machine)[:n]  # broadband machine noise ~1 kHz
    if fault != "normal":
        h = impulse_response(resonances=MACHINE_RESONANCES.get(bearing.name, RESONANCES))
        x = x + np.convolve(_impact_train(rng, n, shaft_hz, fault, size_mils, load_hp, slip, bearing), h)[:n]
    return x + rng.normal(0, noise, n)


def file_name(fault: str, size_mils: int, load_hp: int) -> tuple[str, int]:
    """The CWRU file name and recording number of one class at one load."""
    if fault == "normal":
        rec = RECORDING_BASE["normal"] + load_hp
        return f"normal_{load_hp}_{rec}.mat", rec
    code = FAULT_MODEL[fault][0]
    rec = RECORDING_BASE[f"{code}{size_mils:03d}"] + load_hp
    return f"12k_Drive_End_{code}{size_mils:03d}{'@6' if code == 'OR' else ''}_{load_hp}_{rec}.mat", rec


def write_dataset(
    out_dir, loads=(0, 1), seconds: float = 10.0, seed: int = 0, normal_seconds: float | None = None, bearing="6205"
) -> Path:
    """Write the 10 classes at each load as CWRU-named .mat files (X<nnn>_DE_time, X<nnn>RPM).

    Fault files last `seconds`, normal files `normal_seconds` (default 2 x seconds, as in CWRU).
    Another `bearing` keeps the CWRU names (the labels) with that bearing's signal in X<nnn>_DE_time.
    """
    from scipy.io import savemat

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    classes = [("normal", 0)] + [(f, s) for f in FAULT_MODEL for s in SIZES_MILS]
    for load in loads:
        for fault, size in classes:
            length = (normal_seconds or 2 * seconds) if fault == "normal" else seconds
            x = simulate_recording(fault, size, load, length, seed, bearing=bearing)
            name, rec = file_name(fault, size, load)
            savemat(
                out / name,
                {f"X{rec:03d}_DE_time": x[:, None], f"X{rec:03d}RPM": np.array([[NOMINAL_RPM[load]]], np.uint16)},
            )
    return out
