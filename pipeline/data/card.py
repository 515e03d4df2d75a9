"""The data card: what a fleet table holds before any training, from the `Fleet` a reader returns.

Per column: role, missing share (cells read), range, constant or not, and the trend with age: the
Spearman rank correlation of the column with normalized age (0 at an asset's first row, 1 at its
last) pooled over failed assets (all assets when none failed). Under operating regimes the raw
trend is swamped by the regime, so with regime labels (declared, or handed in by the regime step)
the trend is also given within regime (each value minus its regime's mean). Per asset: rows, first
and last time, failed or censored. Also the regimes found and everything the reader filled or
dropped and why. Written as JSON (`data_card.json`); the HTML report renders that JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from prognos.pipeline.data.fleet import Fleet

CARD_FILE = "data_card.json"


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (as scipy.stats.rankdata's default 'average')."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho (Pearson correlation of the ranks; equals scipy.stats.spearmanr), None if constant."""
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def normalized_age(fleet: Fleet) -> np.ndarray:
    """Per row: 0 at the asset's first row, 1 at its last."""
    code, time = fleet.table[:, 0].astype(np.int64), fleet.table[:, 1]
    lo, hi = np.full(len(fleet.assets), np.inf), np.full(len(fleet.assets), -np.inf)
    np.minimum.at(lo, code, time)
    np.maximum.at(hi, code, time)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (time - lo[code]) / span[code]


def _within(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(labels, return_inverse=True)
    means = np.bincount(inverse, values) / np.bincount(inverse)
    return values - means[inverse]


def _column(fleet: Fleet, j: int, name: str, role: str, pool, age, labels) -> dict:
    v = fleet.table[:, j]
    missing = fleet.card.get("missing", {}).get(name, {"share": 0.0})["share"]
    row = {
        "column": name,
        "role": role,
        "missing_share": missing,
        "min": float(v.min()),
        "max": float(v.max()),
        "constant": bool(v.min() == v.max()),
        "trend": spearman(v[pool], age[pool]),
    }
    if labels is not None:
        row["trend_within_regime"] = spearman(_within(v, labels)[pool], age[pool])
    return row


def _assets(fleet: Fleet) -> list[dict]:
    code, time = fleet.table[:, 0].astype(np.int64), fleet.table[:, 1]
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], len(code)]
    start = fleet.card.get("time", {}).get("asset_start", {})
    return [
        {
            "asset": fleet.assets[code[s]],
            "rows": int(e - s),
            "first": float(time[s]),
            "last": float(time[e - 1]),
            "status": "failed" if fleet.failed[code[s]] else "censored",
            **({"start": start[fleet.assets[code[s]]]} if start else {}),
        }
        for s, e in zip(starts, ends)
    ]


def _regimes(labels, source) -> dict:
    if labels is None:
        return {
            "source": None,
            "count": None,
            "note": "no regime column declared; the regime step fills this in (regimes from the settings)",
        }
    values, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
    return {"source": source, "count": int(len(values)), "rows": dict(zip(values.tolist(), counts.tolist()))}


def data_card(fleet: Fleet, regimes=None, regime_source: str | None = None) -> dict:
    """The card of a fleet. `regimes`: regime label per row found by the regime step (default: the
    fleet's declared regime column), described by `regime_source` (e.g. "k-means on settings, k=6")."""
    labels = regimes if regimes is not None else fleet.regime
    source = regime_source or (
        f"declared column {fleet.card.get('spec', {}).get('regime')!r}"
        if regimes is None and fleet.regime is not None
        else "given"
    )
    failed_rows = fleet.failed[fleet.table[:, 0].astype(np.int64)]
    pool = failed_rows if failed_rows.any() else np.ones(len(failed_rows), bool)
    age = normalized_age(fleet)
    roles = [("setting", c) for c in fleet.settings] + [("sensor", c) for c in fleet.sensors]
    read = fleet.card
    assets = _assets(fleet)
    lengths = [a["rows"] for a in assets]
    return {
        "source": read.get("source"),
        "time": read.get("time"),
        "rows": int(len(fleet.table)),
        "assets": {
            "count": len(assets),
            "failed": int(fleet.failed.sum()),
            "censored": int((~fleet.failed).sum()),
            "rows_min": int(min(lengths)),
            "rows_median": float(np.median(lengths)),
            "rows_max": int(max(lengths)),
        },
        "trend_pool": "failed assets" if failed_rows.any() else "all assets (none failed)",
        "columns": [_column(fleet, 2 + k, name, role, pool, age, labels) for k, (role, name) in enumerate(roles)],
        "regimes": _regimes(labels, source),
        "per_asset": assets,
        "dropped": {"columns": read.get("columns_dropped", []), "rows": read.get("rows_dropped", [])},
        "filled": {"cells": read.get("filled", {}), "gaps": read.get("gaps", {})},
        "failures": read.get("failures", {}),
    }


def write_card(card: dict, out_dir) -> Path:
    out = Path(out_dir) / CARD_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(card, indent=1))
    return out


def summary(card: dict, top: int = 5) -> str:
    """A few console lines: size, failed/censored, dropped and filled, regimes, strongest trends."""
    a, t = card["assets"], card["time"] or {}
    key = "trend_within_regime" if any("trend_within_regime" in c for c in card["columns"]) else "trend"
    trends = sorted((c for c in card["columns"] if c[key] is not None), key=lambda c: -abs(c[key]))[:top]
    r = card["regimes"]
    lines = [
        f"data card: {a['count']} assets ({a['failed']} failed, {a['censored']} censored), {card['rows']} rows "
        f"of {t.get('step', '?')}; rows per asset {a['rows_min']}..{a['rows_max']} (median {a['rows_median']:g})",
        f"  columns: {sum(c['role'] == 'setting' for c in card['columns'])} settings, "
        f"{sum(c['role'] == 'sensor' for c in card['columns'])} sensors; dropped: "
        + (", ".join(f"{d['column']} ({d['why']})" for d in card["dropped"]["columns"]) or "none"),
        "  rows dropped: "
        + (", ".join(f"{d['rows']} {d['why']}" for d in card["dropped"]["rows"]) or "none")
        + f"; gap steps inserted: {card['filled']['gaps'].get('steps_inserted', 0)}; cells filled: "
        f"{sum(card['filled']['cells'].values())}",
        f"  regimes: {r['count']} ({r['source']})" if r["count"] else f"  regimes: {r['note']}",
        f"  strongest {key.replace('_', ' ')} with age ({card['trend_pool']}): "
        + ", ".join(f"{c['column']} {c[key]:+.2f}" for c in trends),
    ]
    return "\n".join(lines)
