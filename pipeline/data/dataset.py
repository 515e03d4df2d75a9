"""From fleet tables to model-ready windows: split by unit, find regimes, select sensors, fit the normalization.

A table has the `Fleet` layout (asset id, time, settings..., sensors...; `Layout` names its
columns; C-MAPSS is one layout). Everything is fitted on the training units only; validation
units are whole engines never seen in training, so validation error is an honest estimate for
unseen engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from prognos.edge_runtime.errors import ConfigError, DataError
from prognos.edge_runtime.features import Preprocessor, pad_front, sliding_windows
from prognos.edge_runtime.schema import CMAPSS_COLUMNS, SETTINGS
from prognos.pipeline.data.cmapss import rul_targets
from prognos.pipeline.data.regimes import fit_regimes
from prognos.edge_runtime.regimes import Regimes
from prognos.pipeline.config import DataConfig, RunConfig


@dataclass(frozen=True)
class Layout:
    """Column names of a table: asset id, time, the settings, the sensors (and, if `declared_regime`,
    a last column with a declared regime label per row)."""

    columns: tuple
    settings: tuple = ()
    declared_regime: bool = False
    time: dict = field(default_factory=dict, hash=False)  # the reader's time rule (pipeline.data.rules.time_rule)

    @property
    def sensors(self) -> list[str]:
        return [c for c in self.columns[2 + len(self.settings) :] if not (self.declared_regime and c == "regime")]


CMAPSS_LAYOUT = Layout(tuple(CMAPSS_COLUMNS), tuple(SETTINGS))


def split_units(table: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint train/validation unit ids, chosen at random with `seed`."""
    units = np.unique(table[:, 0]).astype(int)
    n_val = int(round(len(units) * val_fraction))
    if not 0 < n_val < len(units):
        raise DataError(f"val_fraction {val_fraction} leaves no units on one side of the split ({len(units)} units)")
    val = np.sort(np.random.default_rng(seed).choice(units, n_val, replace=False))
    return np.setdiff1d(units, val), val


def select_features(
    values: np.ndarray, names: list[str], rul: np.ndarray, min_abs_corr: float, what: str = "column"
) -> tuple[list[str], dict]:
    """Columns of `values` (named `names`) that vary and correlate with RUL on the given (training) rows."""
    scores = {}
    for i, name in enumerate(names):
        col = values[:, i]
        scores[name] = 0.0 if col.std() < 1e-9 else float(abs(np.corrcoef(col, rul)[0, 1]))
    chosen = [n for n in names if scores[n] >= min_abs_corr]
    if not chosen:
        raise DataError(f"no {what} reaches |corr with RUL| >= {min_abs_corr}; lower data.min_abs_corr")
    return chosen, {
        "rule": f"|pearson({what}, RUL)| >= {min_abs_corr} on training units",
        "abs_corr": {k: round(v, 4) for k, v in scores.items()},
    }


def fit_preprocessor(train_table: np.ndarray, cfg: DataConfig, layout: Layout = CMAPSS_LAYOUT) -> Preprocessor:
    """Regimes (if the settings form several), features, normalization, fitted on `train_table` only.

    With one regime (FD001), every setting and sensor column is a candidate, selected on its raw
    values and z-scored globally. With several, the sensors are normalized per regime first and
    selected on those values (raw values correlate with the regime, not with wear)."""
    rul = rul_targets(train_table, cfg.rul_cap)
    regimes = _fit_regimes(train_table, cfg, layout)
    if regimes is None:
        names = list(layout.columns[2:])
        features, record = select_features(
            feature_matrix(train_table, names, layout.columns), names, rul, cfg.min_abs_corr
        )
    else:
        z = regimes.normalize(
            feature_matrix(train_table, layout.sensors, layout.columns),
            regimes.assign(feature_matrix(train_table, regimes.settings, layout.columns))[0],
        )
        features, record = select_features(
            z[:, : len(layout.sensors)], layout.sensors, rul, cfg.min_abs_corr, "regime-normalized sensor"
        )
        record["regimes"] = regimes.fit
    if cfg.age_feature:  # the age is known on the device only if it counts cycles from a new engine
        features = [layout.columns[1], *features]
    x = feature_matrix(train_table, features, layout.columns)
    mean, std = x.mean(0), np.maximum(x.std(0), 1e-6)
    if regimes is not None:
        regimes = _regime_stats(regimes, layout, features, mean, std)
        mean, std = np.zeros(len(features)), np.ones(len(features))
    columns = [] if layout == CMAPSS_LAYOUT else list(layout.columns)
    return Preprocessor(
        features,
        mean.tolist(),
        std.tolist(),
        cfg.window,
        cfg.rul_cap,
        smoothing=cfg.smoothing,
        selection=record,
        regimes=regimes.to_dict() if regimes else {},
        columns=columns,
        time=dict(layout.time),
    )


def _fit_regimes(table: np.ndarray, cfg: DataConfig, layout: Layout):
    """The fleet's regimes (pipeline.data.regimes), or None for one regime or data.regimes = "none"."""
    if cfg.regimes == "none" or not layout.settings:
        return None
    if cfg.regimes != "auto":
        raise ConfigError(f"data.regimes {cfg.regimes!r}; expected auto or none")
    declared = table[:, -1] if layout.declared_regime else None
    r = fit_regimes(
        feature_matrix(table, list(layout.settings), layout.columns),
        list(layout.settings),
        feature_matrix(table, layout.sensors, layout.columns),
        cfg.seed,
        declared,
        cfg.regime_onehot,
    )
    return r if r.k > 1 or declared is not None else None


def _regime_stats(regimes, layout: Layout, features: list[str], mean, std):
    """`regimes` with statistics for exactly `features`: per regime for sensors, global for the age."""
    from dataclasses import replace

    idx = {s: i for i, s in enumerate(layout.sensors)}
    m, s = np.asarray(regimes.mean), np.asarray(regimes.std)
    cols_m = [m[:, idx[f]] if f in idx else np.full(regimes.k, mean[j]) for j, f in enumerate(features)]
    cols_s = [s[:, idx[f]] if f in idx else np.full(regimes.k, std[j]) for j, f in enumerate(features)]
    return replace(regimes, mean=np.stack(cols_m, 1).tolist(), std=np.stack(cols_s, 1).tolist())


def feature_matrix(table: np.ndarray, features: list[str], columns=CMAPSS_COLUMNS) -> np.ndarray:
    columns = list(columns)
    return table[:, [columns.index(f) for f in features]]


def inputs_of(table: np.ndarray, pre: Preprocessor) -> np.ndarray:
    """The raw columns `pre` reads (`pre.inputs`) of every row of `table`."""
    return feature_matrix(table, pre.inputs, pre.table_columns)


def rows_of(table: np.ndarray, units) -> np.ndarray:
    return table[np.isin(table[:, 0], units)]


@dataclass
class Windows:
    x: np.ndarray  # (N, window, F) normalized
    y: np.ndarray  # (N,) RUL / rul_cap
    unit: np.ndarray  # (N,) unit id of each window
    cycle: np.ndarray  # (N,) cycle at the window's end


def training_windows(table: np.ndarray, pre: Preprocessor, min_cycles: int | None = None) -> Windows:
    """Sliding windows of run-to-failure units, labeled with the capped RUL at their end.

    The plain, materialized reference implementation; training streams the same windows from
    `window_index` (tests check that both agree).

    Windows end at every cycle >= `min_cycles` (default: the window length); those ending before
    the window is full are edge-padded exactly as the device pads a young unit's history.
    """
    start = pre.window if min_cycles is None else max(1, min(min_cycles, pre.window))
    rul = rul_targets(table, pre.rul_cap)
    xs, ys, us, cs = [], [], [], []
    for u in np.unique(table[:, 0]):
        m = table[:, 0] == u
        feats = pre.unit_features(inputs_of(table[m], pre))
        w = sliding_windows(pad_front(feats, len(feats) + pre.window - start), pre.window)
        xs.append(w)
        ys.append(rul[m][start - 1 :])
        us.append(np.full(len(w), int(u)))
        cs.append(table[m, 1][start - 1 :])
    return Windows(
        np.concatenate(xs), np.concatenate(ys).astype(np.float32) / pre.rul_cap, np.concatenate(us), np.concatenate(cs)
    )


@dataclass
class WindowIndex:
    """The windows of `training_windows` kept as an index into per-row arrays (lazy `Windows`).

    Rows are grouped by unit (ascending unit id, file order within a unit) and normalized once;
    window i is z[ends[i] - window + 1 : ends[i] + 1] with label rul[ends[i]]. That costs 4·F bytes
    per row plus 8 per window, where materialized windows cost 4·F·window bytes per window (30x
    more), so fleets of any size stream through `pipeline.tfdata` without a giant window tensor.
    `x` still materializes everything, for small fleets and for code written against `Windows`.
    """

    z: np.ndarray  # (rows, F) float32, normalized features
    rul: np.ndarray  # (rows,) float32, RUL / rul_cap at each row
    row_unit: np.ndarray  # (rows,) unit id of each row
    row_cycle: np.ndarray  # (rows,) cycle of each row
    ends: np.ndarray  # (N,) int64, row index of each window's last row
    window: int

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def window_shape(self) -> tuple[int, int]:
        return self.window, self.z.shape[1]

    @property
    def y(self) -> np.ndarray:
        return self.rul[self.ends]

    @property
    def unit(self) -> np.ndarray:
        return self.row_unit[self.ends]

    @property
    def cycle(self) -> np.ndarray:
        return self.row_cycle[self.ends]

    def take(self, i) -> np.ndarray:
        """Windows at positions `i` (an index array), materialized: (len(i), window, F)."""
        return self.z[self.ends[i][:, None] + np.arange(1 - self.window, 1)]

    @cached_property
    def x(self) -> np.ndarray:
        return self.take(np.arange(len(self.ends)))


def window_index(table: np.ndarray, pre: Preprocessor, min_cycles: int | None = None) -> WindowIndex:
    """Index the sliding windows of run-to-failure units; O(rows log rows), no window copies.

    Same windows as `training_windows` (the materialized reference): each unit's rows are smoothed
    and normalized, and, when windows start before `window` cycles, preceded by copies of its first
    row so that the early windows are edge-padded as on the device.
    """
    if np.any(np.diff(table[:, 0]) < 0):
        table = table[np.argsort(table[:, 0], kind="stable")]
    start = pre.window if min_cycles is None else max(1, min(min_cycles, pre.window))
    _, first, count = np.unique(table[:, 0], return_index=True, return_counts=True)
    feats = pre.regime_rows(inputs_of(table, pre))
    if pre.smoothing:
        feats = np.concatenate([pre.smooth(feats[f : f + c]) for f, c in zip(first, count)])
    rows, is_pad = _padded_rows(first, count, pre.window - start)
    position = np.arange(len(rows)) - np.repeat(
        np.cumsum(count + pre.window - start) - count - pre.window + start, count + pre.window - start
    )
    rul = (rul_targets(table, pre.rul_cap) / pre.rul_cap).astype(np.float32)
    ends = np.flatnonzero((position >= pre.window - 1) & ~is_pad).astype(np.int64)
    return WindowIndex(
        _aligned(pre.normalize(feats)[rows]),
        _aligned(rul[rows]),
        table[rows, 0].astype(np.int64),
        table[rows, 1].copy(),
        _aligned(ends),
        pre.window,
    )


def time_warped(table: np.ndarray, factors) -> np.ndarray:
    """`table` plus, per factor s, a copy of every run-to-failure unit replayed at 1/s its wear rate.

    Augmentation with new engines (the scarce quantity: errors are per engine): a unit of life L
    becomes one of life round(s·L) whose cycle j shows the row nearest to (j - ½)/s, so the last row
    is still the failure and the sensor noise keeps its distribution (rows are repeated or skipped,
    never interpolated). Copies get new unit ids above the table's.
    """
    if not factors:
        return table
    if any(not 0.5 <= s <= 2 for s in factors):
        raise ConfigError(f"train.time_warp {list(factors)}; expected stretch factors between 0.5 and 2")
    units = _by_unit(table)
    offset, parts = int(table[:, 0].max()), [table]
    for k, s in enumerate(factors, start=1):
        for unit in units:
            n = len(unit)
            life = max(2, round(s * n))
            src = np.minimum(n - 1, ((np.arange(life) + 0.5) / s).astype(int))
            src[-1] = n - 1
            rows = unit[src]  # fancy indexing: a copy
            rows[:, 0] += k * offset
            rows[:, 1] = np.arange(1, life + 1)
            parts.append(rows)
    return np.concatenate(parts)


def engine_mixed(
    table: np.ndarray, copies: int, seed: int, trend_cycles: int = 21, mix: int | None = None
) -> np.ndarray:
    """`copies` copies (only the copies) of every run-to-failure unit, each given part of a random
    partner's wear: new engines that, unlike time-warped ones, age differently at the same cycle.

    Aligned at failure, a unit's rows get w·(partner trend - own trend) added (w ~ U(0.25, 0.75), a
    trend is a centred `trend_cycles` moving average), so the copy keeps its cycles and its own sensor
    noise but wears along a path between the two engines. Before the partner's first cycle its first
    trend value holds. Copy k of unit u gets the id u + k·(the table's largest id). `mix`: only the
    `mix` columns after the time are mixed (default: all of them).
    """
    cols = slice(2, None if mix is None else 2 + mix)
    if copies <= 0:
        return table[:0]
    rng = np.random.default_rng(seed)
    units = _by_unit(table)
    if len(units) < 2:
        raise ConfigError(f"train.engine_mix {copies} needs at least 2 training units to mix, got {len(units)}")
    trends = [_moving_average(unit[:, cols], trend_cycles) for unit in units]
    offset, parts = int(table[:, 0].max()), []
    for k in range(1, copies + 1):
        for i, unit in enumerate(units):
            n = len(unit)
            j = (i + rng.integers(1, len(units))) % len(units)
            partner = trends[j][np.maximum(0, len(trends[j]) - n + np.arange(n))]
            copy = unit.copy()
            copy[:, cols] += rng.uniform(0.25, 0.75) * (partner - trends[i])
            copy[:, 0] += k * offset
            parts.append(copy)
    return np.concatenate(parts)


def _by_unit(table: np.ndarray) -> list[np.ndarray]:
    """Each unit's rows in cycle order (views of one sorted copy), units in id order."""
    rows = table[np.lexsort((table[:, 1], table[:, 0]))]
    return np.split(rows, np.flatnonzero(np.diff(rows[:, 0])) + 1)


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0 (`width` odd), edges padded with the edge rows."""
    half = width // 2
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    c = np.cumsum(np.r_[np.zeros((1, x.shape[1])), padded], axis=0)
    return (c[width:] - c[:-width]) / width


def fitting_index(rows: np.ndarray, pre: Preprocessor, cfg: RunConfig) -> WindowIndex:
    """The windows a model trains on: `rows` plus their time-warped copies (`cfg.train.time_warp`)
    and engine-mixed copies (`cfg.train.engine_mix`), windowed from `cfg.data.min_cycles` on.
    Held-out and validation rows use `window_index` alone."""
    warped = time_warped(rows, cfg.train.time_warp)
    mix = cfg.train.engine_mix, cfg.train.seed
    mixed = _regime_mixed(rows, *mix, pre) if pre.regimes else engine_mixed(rows, *mix)
    mixed[:, 0] += warped[:, 0].max()  # ids above the warped copies'
    return window_index(np.concatenate([warped, mixed]), pre, cfg.data.min_cycles)


def _regime_mixed(rows: np.ndarray, copies: int, seed: int, pre: Preprocessor) -> np.ndarray:
    """`engine_mixed` for fleets of several regimes: raw trends would mix the regimes, so the sensor
    features are mixed in their per-regime normalized units and mapped back to raw values with each
    row's own regime statistics (settings, time and the other columns stay as they were)."""
    r = Regimes.from_dict(pre.regimes)
    columns = list(pre.table_columns)
    sensors = [f for f in pre.features if f != columns[1]]
    label = pre.regime_of(inputs_of(rows, pre))[0]
    j = [pre.features.index(f) for f in sensors]
    mean, std = np.asarray(r.mean)[label][:, j], np.asarray(r.std)[label][:, j]
    z = (feature_matrix(rows, sensors, columns) - mean) / std
    mixed = engine_mixed(np.column_stack([rows[:, :2], z, label, rows]), copies, seed, mix=len(sensors))
    out, lab = mixed[:, 3 + len(sensors) :].copy(), mixed[:, 2 + len(sensors)].astype(int)
    out[:, 0] = mixed[:, 0]
    out[:, [columns.index(f) for f in sensors]] = (
        mixed[:, 2 : 2 + len(sensors)] * np.asarray(r.std)[lab][:, j] + np.asarray(r.mean)[lab][:, j]
    )
    return out


def _padded_rows(first: np.ndarray, count: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices with `pad` copies of each unit's first row in front, and which rows are copies."""
    if pad == 0:
        return np.arange(count.sum()), np.zeros(count.sum(), bool)
    rows = np.concatenate([np.r_[np.full(pad, f), np.arange(f, f + c)] for f, c in zip(first, count)])
    is_pad = np.concatenate([np.r_[np.ones(pad, bool), np.zeros(c, bool)] for c in count])
    return rows, is_pad


def _aligned(a: np.ndarray, alignment: int = 64) -> np.ndarray:
    """`a` copied to a 64-byte aligned buffer, which TensorFlow can then use without a copy."""
    buf = np.empty(a.nbytes + alignment, np.uint8)
    start = -buf.ctypes.data % alignment
    out = buf[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def last_windows(table: np.ndarray, pre: Preprocessor) -> tuple[np.ndarray, np.ndarray]:
    """One window per unit, its last `window` cycles (edge-padded if shorter): (units, windows)."""
    units = np.unique(table[:, 0]).astype(int)
    x = [pre.last_window(inputs_of(table[table[:, 0] == u], pre)) for u in units]
    return units, np.stack(x)
