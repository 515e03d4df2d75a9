"""Feature code shared by training and the device: normalization and windowing, numpy only.

The fitted `Preprocessor` is serialized into every bundle's manifest, so the device applies exactly
the statistics, operating regimes and window spec the model was trained with (no training/serving
skew by construction). One row goes through: per-regime normalization (edge_runtime.regimes, only
when the fleet has several operating regimes) -> optional EMA smoothing -> global z-score (only
without regimes) -> window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.regimes import Regimes
from prognos.edge_runtime.schema import CMAPSS_COLUMNS


@dataclass
class Preprocessor:
    """Selected features, z-score statistics and window spec, fitted on training units only.

    Windows shorter than `window` (a unit seen for fewer cycles) are padded at the front by repeating
    the unit's first row ("edge" padding): the padded rows look like an early, healthy state.
    """

    features: list[str]
    mean: list[float]
    std: list[float]
    window: int = 30
    rul_cap: float = 125.0
    padding: str = "edge"
    smoothing: float = 0.0  # EMA weight α of the newest row over a unit's history; 0 = off
    selection: dict = field(default_factory=dict)  # how `features` were chosen, for the record
    regimes: dict = field(default_factory=dict)  # Regimes.to_dict(); empty: one regime, global mean/std
    columns: list = field(default_factory=list)  # the source table's column names (asset, time, settings,
    #   sensors); the device reads rows by these names. Empty: the C-MAPSS layout (unit, cycle, ...)
    time: dict = field(default_factory=dict)  # how time becomes steps (edge_runtime.steps.TimeRule); empty:
    #   the time column is a cycle counter, read as it is

    def __post_init__(self):
        n = len(self.features)
        if len(self.mean) != n or len(self.std) != n:
            raise ConfigError(f"preprocessor: {n} features but {len(self.mean)} means and {len(self.std)} stds")
        if self.window < 1:
            raise ConfigError(f"preprocessor: window must be >= 1, got {self.window}")
        if not 0.0 <= self.smoothing < 1.0:
            raise ConfigError(f"preprocessor: smoothing must be in [0, 1), got {self.smoothing}")
        if self.padding != "edge":
            raise ConfigError(f"preprocessor: padding must be 'edge', got {self.padding!r}")
        self._regimes = Regimes.from_dict(self.regimes) if self.regimes else None
        if self._regimes is not None and len(self._regimes.mean[0]) != n:
            raise ConfigError(f"preprocessor: {n} features but regime statistics of {len(self._regimes.mean[0])}")

    @property
    def table_columns(self) -> list[str]:
        return list(self.columns) or CMAPSS_COLUMNS

    @property
    def inputs(self) -> list[str]:
        """The raw columns read per row, in order: the features, then regime settings not among them."""
        extra = [s for s in self._regimes.settings if s not in self.features] if self._regimes else []
        return [*self.features, *extra]

    @property
    def row_inputs(self) -> list[str]:
        """The `inputs` a row carries: without the time column when time is resampled timestamps (the
        device counts the steps and puts the step number in its place, edge_runtime.steps)."""
        column = self.time.get("column") if self.time.get("kind") == "timestamp" else None
        return [c for c in self.inputs if c != column]

    @property
    def width(self) -> int:
        """Model inputs per time step: the features, plus one per regime with a regime one-hot."""
        r = self._regimes
        return len(self.features) + (r.k if r is not None and r.onehot else 0)

    def regime_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(regime index, known) of raw `inputs` rows; one regime 0 everywhere without regimes."""
        rows = np.atleast_2d(rows)
        if self._regimes is None:
            return np.zeros(len(rows), int), np.ones(len(rows), bool)
        idx = [self.inputs.index(s) for s in self._regimes.settings]
        return self._regimes.assign(rows[:, idx])

    def regime_step(self, row) -> tuple[np.ndarray, int, bool]:
        """One raw `inputs` row -> (its `regime_rows` row, regime index, known); the device's per-row path."""
        rows = np.atleast_2d(np.asarray(row, np.float64))
        label, known = self.regime_of(rows)
        if self._regimes is None:
            return rows[0], int(label[0]), bool(known[0])
        return self._regimes.normalize(rows[:, : len(self.features)], label)[0], int(label[0]), bool(known[0])

    def regime_rows(self, rows: np.ndarray) -> np.ndarray:
        """Raw `inputs` rows -> feature rows normalized per regime (float64); unchanged without regimes."""
        rows = np.asarray(rows, np.float64)
        if self._regimes is None:
            return rows
        label, _ = self.regime_of(rows)
        return self._regimes.normalize(rows[:, : len(self.features)], label)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessor":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        try:
            return cls(**known)
        except TypeError as e:
            raise ConfigError(f"preprocessor: {e}") from None

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """z = (x - mean) / std over the last axis, in float32 (a cast only: rows are already
        normalized per regime when the preprocessor has regimes)."""
        if self._regimes is not None:
            return np.asarray(x, np.float32)
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        return ((np.asarray(x, np.float32) - mean) / std).astype(np.float32)

    def smooth_step(self, previous: np.ndarray | None, row: np.ndarray) -> np.ndarray:
        """One step of s_t = α x_t + (1 - α) s_{t-1}, s_1 = x_1 (identity when smoothing is off)."""
        row = np.asarray(row, np.float64)
        if previous is None or not self.smoothing:
            return row
        return self.smoothing * row + (1.0 - self.smoothing) * previous

    def smooth(self, rows: np.ndarray) -> np.ndarray:
        """The exponential moving average over a unit's whole history (rows in cycle order)."""
        rows = np.asarray(rows, np.float64)
        if not self.smoothing:
            return rows
        out, s = np.empty_like(rows), None
        for i, row in enumerate(rows):
            out[i] = s = self.smooth_step(s, row)
        return out

    def unit_features(self, rows: np.ndarray) -> np.ndarray:
        """Normalized (per regime, or globally) and smoothed feature rows of one unit's history: (T, width)."""
        return self.normalize(self.smooth(self.regime_rows(rows)))

    def last_window(self, rows: np.ndarray, smoothed: bool = False) -> np.ndarray:
        """The normalized last `window` rows of one unit, edge-padded at the front: (window, F).

        `rows` is the unit's raw `inputs` history from its first cycle (or its last rows, already
        through `regime_rows` and `smooth`, when `smoothed`).
        """
        rows = np.asarray(rows, np.float64) if smoothed else self.smooth(self.regime_rows(rows))
        return self.normalize(pad_front(rows[-self.window :], self.window))


def pad_front(rows: np.ndarray, window: int) -> np.ndarray:
    """Repeat the first row so that `rows` has at least `window` rows."""
    missing = window - len(rows)
    if missing <= 0:
        return rows
    return np.concatenate([np.repeat(rows[:1], missing, axis=0), rows], axis=0)


def sliding_windows(x: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """All full windows of a (T, F) array as a (N, window, F) view; N = 0 if T < window."""
    if len(x) < window:
        return np.zeros((0, window, x.shape[1]), x.dtype)
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=0)  # (N, F, window)
    return view[::stride].transpose(0, 2, 1)
