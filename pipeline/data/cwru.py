"""Case Western Reserve University Bearing Data Center: 12 kHz drive-end recordings (.mat files).

File names: `12k_Drive_End_<IR|B|OR><007|014|021>[@6]_<load HP>_<recording>.mat` (outer race with
the fault at 6 o'clock, in the load zone) and `normal_<load HP>_<recording>.mat`. Each file holds
the drive-end accelerometer (g) as `X<nnn>_DE_time` and usually the speed as `X<nnn>RPM`. Some
public files carry a different X number inside than in their name, so the loader takes the single
`*_DE_time` variable whatever its number.

Only 12 kHz files are read (the `12k_` prefix; `normal_*` files are taken as 12 kHz, as the data
README states). Labels follow the 10-class benchmark used e.g. by Zhang et al. 2017 ("A new deep
learning model for fault diagnosis with good anti-noise and domain adaptation ability on raw
vibration signals", Sensors 17); the class order is this module's:

    0 normal, 1 IR007, 2 IR014, 3 IR021, 4 B007, 5 B014, 6 B021, 7 OR007, 8 OR014, 9 OR021
    4-class: 0 normal, 1 inner_race, 2 ball, 3 outer_race

Windows cut from one recording are strongly correlated, so train/validation are split by time
segment of each recording (`split_windows`), never by shuffled windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prognos.edge_runtime.dsp import check_int, frame
from prognos.edge_runtime.errors import ConfigError, DataError

SAMPLE_RATE = 12000
NOMINAL_RPM = {0: 1797.0, 1: 1772.0, 2: 1750.0, 3: 1730.0}  # CWRU table, by motor load (HP)
FAULTS = ("normal", "inner_race", "ball", "outer_race")  # 4-class label = index
FAULT_CODES = {"IR": "inner_race", "B": "ball", "OR": "outer_race"}
SIZES_MILS = (7, 14, 21)
CLASSES_10 = ("normal",) + tuple(f"{code}{s:03d}" for code in FAULT_CODES for s in SIZES_MILS)

_FAULT_NAME = re.compile(r"^12k_Drive_End_(IR|B|OR)(007|014|021)(@6)?_([0-3])_(\d+)\.mat$")
_NORMAL_NAME = re.compile(r"^normal_([0-3])_(\d+)\.mat$")
_NAME_HELP = (
    "expected '12k_Drive_End_<IR|B|OR><007|014|021>[@6]_<load 0-3>_<recording>.mat' "
    "(outer race with @6) or 'normal_<load 0-3>_<recording>.mat'"
)


@dataclass(frozen=True)
class CwruLabel:
    """What a CWRU file name says: fault type, fault diameter (mils), motor load (HP), recording."""

    fault: str
    size_mils: int
    load_hp: int
    recording: int

    @property
    def label10(self) -> int:
        """Index into CLASSES_10."""
        if self.fault == "normal":
            return 0
        return 1 + 3 * (FAULTS.index(self.fault) - 1) + SIZES_MILS.index(self.size_mils)

    @property
    def label4(self) -> int:
        """Index into FAULTS."""
        return FAULTS.index(self.fault)


def parse_name(name) -> CwruLabel:
    """Labels from a CWRU file name (a path's directories are ignored); DataError on other names."""
    name = Path(name).name
    m = _FAULT_NAME.match(name)
    if m:
        code, size, at6, load, rec = m.groups()
        if (code == "OR") != bool(at6):
            raise DataError(f"{name}: '@6' goes with outer-race faults only (OR<size>@6); {_NAME_HELP}")
        return CwruLabel(FAULT_CODES[code], int(size), int(load), int(rec))
    m = _NORMAL_NAME.match(name)
    if m:
        return CwruLabel("normal", 0, int(m.group(1)), int(m.group(2)))
    raise DataError(f"{name}: unknown CWRU file name; {_NAME_HELP}")


@dataclass
class CwruRecord:
    """One recording: drive-end signal (g, float32), its labels, speed and where they came from."""

    path: Path
    signal: np.ndarray
    label: CwruLabel
    rpm: float
    rpm_source: str  # "file" (X<nnn>RPM variable) or "nominal" (NOMINAL_RPM by load)
    variable: str  # the *_DE_time variable read
    sample_rate: int = SAMPLE_RATE

    @property
    def shaft_hz(self) -> float:
        return self.rpm / 60.0


def _read_mat(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a CWRU .mat file")
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        return loadmat(path)
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError) as e:
        raise DataError(f"{path}: unreadable as a MATLAB v5 .mat file ({e})") from None


def _drive_end(path: Path, mat: dict) -> tuple[str, np.ndarray]:
    names = sorted(k for k in mat if re.fullmatch(r"X\d+_DE_time", k))
    if len(names) != 1:
        raise DataError(f"{path}: {len(names)} drive-end variables {names}; expected exactly one X<nnn>_DE_time")
    x = np.asarray(mat[names[0]])
    if x.ndim > 2 or (x.ndim == 2 and min(x.shape) != 1) or x.size == 0 or x.dtype.kind not in "iuf":
        raise DataError(f"{path}: {names[0]} has shape {x.shape} dtype {x.dtype}; expected a numeric vector")
    x = x.ravel().astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: {names[0]} has NaN or infinite samples; expected finite values")
    return names[0], x


def _rpm(path: Path, mat: dict, de_name: str, load_hp: int) -> tuple[float, str]:
    names = sorted(k for k in mat if re.fullmatch(r"X\d+RPM", k))
    if len(names) > 1:  # several recordings in one file: take the one of the drive-end signal
        names = [k for k in names if k == de_name.split("_")[0] + "RPM"]
    if not names:
        return NOMINAL_RPM[load_hp], "nominal"
    rpm = float(np.ravel(mat[names[0]])[0]) if np.size(mat[names[0]]) else float("nan")
    if not 100 <= rpm <= 10000:
        raise DataError(f"{path}: {names[0]} = {rpm}; expected a shaft speed in rpm (100-10000)")
    return rpm, "file"


def load_file(path) -> CwruRecord:
    """Read one CWRU (or simulated) .mat file: its drive-end signal, labels and shaft speed."""
    path = Path(path)
    label = parse_name(path)
    mat = _read_mat(path)
    variable, signal = _drive_end(path, mat)
    rpm, source = _rpm(path, mat, variable, label.load_hp)
    return CwruRecord(path, signal, label, rpm, source, variable)


def _check_loads(loads) -> set[int] | None:
    if loads is None:
        return None
    loads = {loads} if isinstance(loads, (int, np.integer)) else set(loads)
    if not loads or not loads <= set(NOMINAL_RPM):
        raise ConfigError(f"loads must be motor loads in HP among 0, 1, 2, 3; got {sorted(loads)}")
    return loads


def list_files(folder, loads=None) -> list[Path]:
    """The CWRU .mat files of `folder` (sorted by name), optionally only those at motor `loads` (HP)."""
    folder = Path(folder)
    wanted = _check_loads(loads)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected a folder of CWRU .mat files")
    paths = sorted(p for p in folder.iterdir() if p.suffix == ".mat")
    if not paths:
        raise DataError(f"{folder}: no .mat files; expected CWRU recordings ({_NAME_HELP})")
    labels = [parse_name(p) for p in paths]  # raises on the first unknown name
    chosen = [p for p, lab in zip(paths, labels) if wanted is None or lab.load_hp in wanted]
    if not chosen:
        raise DataError(
            f"{folder}: no recordings at loads {sorted(wanted)} HP; found loads "
            f"{sorted({lab.load_hp for lab in labels})}"
        )
    return chosen


def load_folder(folder, loads=None) -> list[CwruRecord]:
    """load_file on every file of list_files(folder, loads)."""
    return [load_file(p) for p in list_files(folder, loads)]


def split_bounds(n: int, train_fraction: float, gap: int) -> tuple[slice, slice]:
    """Train = the first train_fraction of n samples; validation = the rest after `gap` samples."""
    if not isinstance(train_fraction, (int, float)) or not 0 < train_fraction < 1:
        raise ConfigError(f"train_fraction must be strictly between 0 and 1, got {train_fraction!r}")
    gap = check_int(gap, "gap", minimum=0)
    cut = int(round(n * train_fraction))
    return slice(0, cut), slice(min(n, cut + gap), n)


@dataclass
class WindowSplit:
    """Windows (N, window) with labels and the index of the recording each came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    rec_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    rec_val: np.ndarray


def split_windows(records, window: int, hop: int, train_fraction: float = 0.8, label: str = "label10") -> WindowSplit:
    """Time-segment split of each recording, then windows: no window straddles the cut.

    The first train_fraction of each recording gives training windows, the remainder after a gap
    of one window gives validation windows (never shuffled windows of one pool).
    """
    if label not in ("label10", "label4"):
        raise ConfigError(f"label must be 'label10' or 'label4', got {label!r}")
    records = list(records)
    if not records:
        raise DataError("split_windows: no records, expected at least one recording")
    parts = {"train": ([], [], []), "val": ([], [], [])}
    for i, rec in enumerate(records):
        for part, sl in zip(parts.values(), split_bounds(len(rec.signal), train_fraction, window)):
            w = frame(rec.signal[sl], window, hop)
            part[0].append(w)
            part[1].append(np.full(len(w), getattr(rec.label, label), np.int64))
            part[2].append(np.full(len(w), i, np.int64))
    (xt, yt, rt), (xv, yv, rv) = ([np.concatenate(a) for a in part] for part in parts.values())
    return WindowSplit(xt, yt, rt, xv, yv, rv)
