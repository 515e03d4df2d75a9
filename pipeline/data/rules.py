"""The reading rules: a parsed table (`Raw`) -> `Fleet`, each step recorded in `Fleet.card`.

In this order (docs/own-data.md says the same for users):
1. order: rows grouped by asset (assets in order of first appearance), file order within an asset. A
   time earlier than the asset's previous row is refused; rows with the same time: the last one kept.
2. resample (timestamps only): rows fall into steps of `resample` since 1970-01-01 UTC; a step holds
   the mean of its rows per column (missing cells ignored), its last regime label, the max of the
   failures column. Time becomes the step number, 1 at the asset's first step.
3. failures: all / none / the failures column (failed at the first 1; later rows dropped) / the
   events file (failed at the failure time; later rows dropped). Every other asset is censored.
4. gaps: up to `max_fill` missing steps are inserted as empty rows; a longer gap is refused, or kept
   as a jump in time with long_gaps = "keep".
5. fill: runs of up to `max_fill` missing values per column are filled from the asset's previous
   value (at an asset's start: from its first value); a longer run is refused.
6. constant columns (drop_constant): a setting or sensor with one value over the table is dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import partial

import numpy as np

from prognos.edge_runtime.errors import DataError
from prognos.pipeline.data.cells import Raw
from prognos.pipeline.data.fleet import Fleet
from prognos.pipeline.data.spec import DatasetSpec


@dataclass
class Rows:
    """The table between rules: asset code, time, value columns, and the raw row each came from."""

    code: np.ndarray  # int asset index
    time: np.ndarray  # float
    x: np.ndarray  # float (rows, columns), NaN = missing
    regime: np.ndarray | None  # float regime-label code, NaN = missing
    failed: np.ndarray | None
    origin: np.ndarray  # int raw row (for an inserted gap row: the raw row after the gap)
    inserted: np.ndarray  # bool: a gap row

    def take(self, keep) -> "Rows":
        def pick(a):
            return None if a is None else a[keep]

        return Rows(
            self.code[keep],
            self.time[keep],
            self.x[keep],
            pick(self.regime),
            pick(self.failed),
            self.origin[keep],
            self.inserted[keep],
        )

    def same_asset(self) -> np.ndarray:
        """bool per row after the first: same asset as the row before."""
        return self.code[1:] == self.code[:-1]


def build_fleet(spec: DatasetSpec, raw: Raw, events=None) -> Fleet:
    """Apply the rules in order; `events` = [(asset id, failure time, where)] for failures = events."""
    names = list(raw.values)
    card = _source_card(spec, raw, names)
    card["time_rule"] = time_rule(spec)
    assets, rows = order(raw, names, card)
    first = np.zeros(len(assets))
    if spec.step_seconds:
        rows, first = resample(rows, spec.step_seconds, card)
        card["time"]["asset_start"] = {a: _iso(b * spec.step_seconds) for a, b in zip(assets, first)}
    rows, failed = failures(spec, raw, rows, assets, first, events, card)
    rows = gaps(spec, raw, rows, assets, card)
    rows = fill(spec, raw, rows, assets, names, card)
    return _fleet(spec, raw, rows, assets, failed, names, card)


def time_rule(spec: DatasetSpec) -> dict:
    """How these rules turn timestamps into steps, for the bundle (edge_runtime.steps applies it on the
    device, row by row); {} for a cycle counter (the device reads it as it is)."""
    if not spec.step_seconds:
        return {}
    return {
        "kind": "timestamp",
        "column": spec.time,
        "step": spec.resample,
        "step_seconds": spec.step_seconds,
        "step_index": "floor(epoch seconds / step_seconds) - floor(first / step_seconds) + 1, first = the "
        "asset's first row (on the device: or its configured start, stream.asset_start)",
        "age": "the step index (the time column as a model input)",
        "aggregate": "mean per step of the rows' values, missing cells ignored",
        "duplicates": "same asset and timestamp: the last row kept",
        "backwards": "refused (on the device: the row is rejected, out_of_order)",
        "max_fill": spec.max_fill,
        "long_gaps": spec.long_gaps,
    }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _source_card(spec: DatasetSpec, raw: Raw, names: list[str]) -> dict:
    n = len(raw.line)
    missing = {c: int(np.isnan(raw.values[c]).sum()) for c in names}
    if raw.regime is not None:
        missing[spec.regime] = int((raw.regime == "").sum())
    return {
        "source": {"files": raw.files, "format": spec.format, "rows_read": n},
        "spec": _plain(asdict(spec)),
        "time": {
            "kind": "timestamp" if spec.resample else "cycle",
            "step": spec.resample or "1 cycle",
            "aggregation": "mean per step (missing ignored); regime: last; failures column: max"
            if spec.resample
            else None,
        },
        "missing": {c: {"cells": k, "share": k / n if n else 0.0} for c, k in missing.items()},
        "filled": {},
        "rows_dropped": [],
        "columns_dropped": [{"column": c, "why": f"sensors = auto: {kind} column"} for c, kind in raw.skipped.items()],
    }


def _plain(d):
    return {k: _plain(v) if isinstance(v, dict) else (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def order(raw: Raw, names: list[str], card: dict) -> tuple[list[str], Rows]:
    ids, first = np.unique(raw.asset, return_index=True)
    by_first = np.argsort(first)
    code_of = np.empty(len(ids), np.int64)
    code_of[by_first] = np.arange(len(ids))
    code = code_of[np.searchsorted(ids, raw.asset)]
    idx = np.lexsort((np.arange(len(code)), code))
    regime = None if raw.regime is None else _label_codes(raw.regime[idx], card)
    rows = Rows(
        code[idx],
        raw.time[idx],
        np.column_stack([raw.values[c][idx] for c in names]) if names else np.empty((len(idx), 0)),
        regime,
        None if raw.failed is None else raw.failed[idx],
        idx,
        np.zeros(len(idx), bool),
    )
    same, dt = rows.same_asset(), np.diff(rows.time)
    back = np.flatnonzero(same & (dt < 0))
    if len(back):
        i = back[0]
        raise DataError(
            f"{raw.where(idx[i + 1])}: asset {ids[by_first][rows.code[i]]!r}: time goes back "
            f"(after {raw.where(idx[i])}); expected the rows of an asset in time order"
        )
    dup = np.flatnonzero(same & (dt == 0))
    if len(dup):
        card["rows_dropped"].append({"rows": len(dup), "why": "same asset and time as the next row: last kept"})
        rows = rows.take(np.setdiff1d(np.arange(len(idx)), dup))
    return [str(a) for a in ids[by_first]], rows


def _label_codes(labels: np.ndarray, card: dict) -> np.ndarray:
    values = sorted(set(labels) - {""})
    card["regime_labels"] = values
    lookup = {v: float(i) for i, v in enumerate(values)}
    return np.array([lookup.get(v, np.nan) for v in labels])


def _starts(code: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, code[1:] != code[:-1]])


def resample(rows: Rows, step: int, card: dict) -> tuple[Rows, np.ndarray]:
    """Mean per (asset, step); returns the rows and each asset's first step index since the epoch."""
    bucket = np.floor(rows.time / step)
    starts = np.flatnonzero(np.r_[True, (rows.code[1:] != rows.code[:-1]) | (bucket[1:] != bucket[:-1])])
    present = ~np.isnan(rows.x)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.add.reduceat(np.where(present, rows.x, 0), starts) / np.add.reduceat(present, starts)
    last = np.r_[starts[1:], len(bucket)] - 1
    failed = None if rows.failed is None else np.maximum.reduceat(np.nan_to_num(rows.failed), starts)
    code, b = rows.code[starts], bucket[starts]
    first = b[_starts(code)]
    if len(starts) < len(bucket):
        card["rows_dropped"].append(
            {"rows": int(len(bucket) - len(starts)), "why": "averaged with other rows of the same time step"}
        )
    regime = None if rows.regime is None else _last_present(rows.regime, starts, last)
    out = Rows(code, b - first[code] + 1, x, regime, failed, rows.origin[starts], np.zeros(len(starts), bool))
    return out, first


def _last_present(labels: np.ndarray, starts: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Per group (rows starts[g]..last[g]): its last non-missing label, NaN when it has none."""
    prev = np.maximum.accumulate(np.where(np.isnan(labels), -1, np.arange(len(labels))))[last]
    return np.where(prev >= starts, labels[np.maximum(prev, 0)], np.nan)


def failures(spec, raw, rows: Rows, assets, first, events, card) -> tuple[Rows, np.ndarray]:
    """Failed per asset, and the rows truncated at each failure (later rows are dropped)."""
    source, n = spec.failures.source, len(assets)
    if source in ("all", "none"):
        failed, end = np.full(n, source == "all"), None
    elif source == "column":
        failed, end = _from_column(rows, n)
    else:
        failed, end = _from_events(spec, raw, rows, assets, first, events, card)
    if end is not None:
        keep = ~failed[rows.code] | (rows.time <= end[rows.code])
        if not keep.all():
            card["rows_dropped"].append({"rows": int((~keep).sum()), "why": "after the asset's failure"})
        rows = rows.take(keep)
    card["failures"] = {
        **card.get("failures", {}),
        "source": source,
        "failed": int(failed.sum()),
        "censored": int(n - failed.sum()),
    }
    return rows, failed


def _from_column(rows: Rows, n: int):
    hit = np.nan_to_num(rows.failed) == 1
    failed = np.zeros(n, bool)
    failed[rows.code[hit]] = True
    end = np.full(n, np.inf)
    np.minimum.at(end, rows.code[hit], rows.time[hit])
    return failed, end


def _from_events(spec, raw, rows: Rows, assets, first, events, card):
    index = {a: i for i, a in enumerate(assets)}
    step = spec.step_seconds
    failed, end, seen, unknown = np.zeros(len(assets), bool), np.full(len(assets), np.inf), {}, []
    last = np.full(len(assets), -np.inf)
    np.maximum.at(last, rows.code, rows.time)
    for asset, t, where in events:
        if asset not in index:
            unknown.append(asset)
            continue
        if asset in seen:
            raise DataError(
                f"{where}: asset {asset!r} fails a second time (first at {seen[asset]}); expected one "
                "failure per asset (give a repaired asset a new id for its next life)"
            )
        seen[asset], a = where, index[asset]
        end[a] = np.floor(t / step) - first[a] + 1 if step else t
        failed[a] = True
        if end[a] < 1 or end[a] > last[a] + spec.max_fill:
            why = (
                "before the asset's first row"
                if end[a] < 1
                else f"{int(end[a] - last[a])} steps after its last row (at most max_fill = {spec.max_fill})"
            )
            raise DataError(
                f"{where}: asset {asset!r}: failure time is {why}; expected a failure within the "
                "asset's rows (an asset whose data stop earlier is censored: leave it out)"
            )
    card["failures"] = {"events_for_unknown_assets": unknown}
    return failed, end


def gaps(spec: DatasetSpec, raw: Raw, rows: Rows, assets, card) -> Rows:
    """Insert empty rows for gaps of up to max_fill steps (filled next); refuse or keep longer ones."""
    k = np.zeros(len(rows.time), np.int64)
    k[1:] = np.where(rows.same_asset(), np.diff(rows.time) - 1, 0)
    long = k > spec.max_fill
    if long.any() and spec.long_gaps == "refuse":
        i = np.flatnonzero(long)[0]
        raise DataError(
            f"{raw.where(rows.origin[i])}: asset {assets[rows.code[i]]!r}: {k[i]} missing time steps "
            f"before this row (time {rows.time[i - 1]:g} to {rows.time[i]:g}); at most max_fill = "
            f'{spec.max_fill} are filled; expected no longer gap, or set long_gaps = "keep"'
        )
    k[long] = 0
    card["gaps"] = {"steps_inserted": int(k.sum()), "long_gaps_kept": int(long.sum())}
    if not k.any():
        return rows
    src = np.repeat(np.arange(len(k)), k + 1)
    offset = np.arange(len(src)) - np.repeat(np.cumsum(k + 1) - (k + 1), k + 1)
    new = offset < k[src]
    out = rows.take(src)
    out.time = np.where(new, out.time - k[src] + offset, out.time)
    out.x[new] = np.nan
    if out.regime is not None:
        out.regime[new] = np.nan
    out.inserted = new
    return out


def fill(spec: DatasetSpec, raw: Raw, rows: Rows, assets, names, card) -> Rows:
    """Forward-fill runs of up to max_fill missing values per asset and column; refuse longer runs."""
    start = _starts(rows.code)
    lo = start[np.searchsorted(start, np.arange(len(rows.code)), side="right") - 1]
    hi = np.r_[start[1:], len(rows.code)][np.searchsorted(start, np.arange(len(rows.code)), side="right") - 1]
    cols = [(c, rows.x[:, j]) for j, c in enumerate(names)]
    cols += [(spec.regime, rows.regime)] if rows.regime is not None else []
    for name, col in cols:
        refuse = partial(_too_long, raw, rows, assets, name, max_fill=spec.max_fill)
        card["filled"][name] = _fill_column(col, lo, hi, spec.max_fill, refuse)
    return rows


def _fill_column(col: np.ndarray, lo, hi, max_fill: int, refuse) -> int:
    """In place; returns the number of cells filled. lo/hi: first row / end of each row's asset."""
    gone = np.isnan(col)
    if not gone.any():
        return 0
    idx = np.arange(len(col))
    prev = np.maximum.accumulate(np.where(gone, -1, idx))
    nxt = np.minimum.accumulate(np.where(gone, len(col), idx)[::-1])[::-1]
    has_prev = prev >= lo
    run_start = np.where(has_prev, prev + 1, lo)
    run_end = np.minimum(nxt, hi)
    bad = np.flatnonzero(gone & ((run_end - run_start > max_fill) | (~has_prev & (nxt >= hi))))
    if len(bad):
        i = bad[0]
        refuse(run_start[i], run_end[i] - run_start[i])
    col[gone] = np.where(has_prev, col[np.maximum(prev, 0)], col[np.minimum(nxt, len(col) - 1)])[gone]
    return int(gone.sum())


def _too_long(raw: Raw, rows: Rows, assets, name: str, i: int, run: int, max_fill: int):
    where = ("rows inserted for a gap before " if rows.inserted[i] else "") + raw.where(rows.origin[i])
    raise DataError(
        f"{where}: column {name!r}: {run} missing values in a row for asset "
        f"{assets[rows.code[i]]!r}; at most max_fill = {max_fill} are filled; expected a value at least "
        f"every {max_fill + 1} steps"
    )


def _fleet(spec: DatasetSpec, raw: Raw, rows: Rows, assets, failed, names, card) -> Fleet:
    keep = list(names)
    if spec.drop_constant:
        for j, c in enumerate(names):
            if rows.x[:, j].min() == rows.x[:, j].max():
                keep.remove(c)
                card["columns_dropped"].append({"column": c, "why": f"constant ({rows.x[0, j]:g} in every row)"})
    settings = [c for c in spec.settings if c in keep]
    sensors = [c for c in keep if c not in spec.settings]
    if not sensors:
        raise DataError(
            f"{', '.join(raw.files)}: no sensor column left (dropped: "
            f"{[d['column'] for d in card['columns_dropped']]}); expected at least one varying sensor"
        )
    cols = [names.index(c) for c in settings + sensors]
    table = np.column_stack([rows.code.astype(np.float64), rows.time, rows.x[:, cols]])
    regime = None
    if rows.regime is not None:
        regime = np.asarray(card["regime_labels"], dtype=object)[rows.regime.astype(np.int64)]
    card["rows"], card["assets"] = len(table), len(assets)
    return Fleet(table, settings, sensors, assets, failed, regime, card)
