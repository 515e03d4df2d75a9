"""The "Data card" section of `prognos report`, rendered from <run>/data_card.json (pipeline.data.card).

HTML built from the JSON directly (no Markdown round trip): a summary, the column table, what was
dropped or filled and why, the regimes, and the per-asset table (the first MAX_ASSETS assets).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from prognos.edge_runtime.tables import Table
from prognos.pipeline.data.card import CARD_FILE
from prognos.pipeline.report.card import Missing

MAX_ASSETS = 50


def _cell(v) -> str:
    return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def table(header: list[str], rows: list[list]) -> str:
    """HTML of the project's one table helper; floats to 4 significant digits, None as an empty cell."""
    t = Table(header, "l" + "r" * (len(header) - 1))
    for r in rows:
        t.add(*map(_cell, r))
    return t.html()


def _summary(card: dict) -> str:
    a, r, t = card["assets"], card["regimes"], card["time"] or {}
    src = ", ".join(card["source"]["files"]) if card.get("source") else "?"
    regimes = f"{r['count']} ({r['source']})" if r["count"] else r["note"]
    return (
        f"<p>From <code>{html.escape(src)}</code>: {a['count']} assets ({a['failed']} failed, {a['censored']} "
        f"censored: never given a failure label), {card['rows']} rows of {html.escape(str(t.get('step')))}, "
        f"{a['rows_min']}–{a['rows_max']} rows per asset. Regimes: {html.escape(regimes)}. Trend = Spearman "
        f"correlation with normalized age on {html.escape(card['trend_pool'])}.</p>"
    )


def section(run: Path) -> str:
    path = Path(run) / CARD_FILE
    if not path.is_file():
        raise Missing(f"prognos data-card --data-dir DATA_DIR --out {run}")
    card = json.loads(path.read_text())
    within = any("trend_within_regime" in c for c in card["columns"])
    cols = [
        [
            c["column"],
            c["role"],
            c["missing_share"],
            c["min"],
            c["max"],
            "yes" if c["constant"] else "no",
            c["trend"],
            *([c.get("trend_within_regime")] if within else []),
        ]
        for c in card["columns"]
    ]
    dropped = [[d["column"], d["why"]] for d in card["dropped"]["columns"]]
    dropped += [[f"{d['rows']} rows", d["why"]] for d in card["dropped"]["rows"]]
    filled = card["filled"]
    assets = card["per_asset"]
    more = f"<p>… and {len(assets) - MAX_ASSETS} more assets in {CARD_FILE}.</p>" if len(assets) > MAX_ASSETS else ""
    return (
        _summary(card)
        + table(
            [
                "column",
                "role",
                "missing share",
                "min",
                "max",
                "constant",
                "trend with age",
                *(["trend within regime"] if within else []),
            ],
            cols,
        )
        + "<h3>Dropped</h3>"
        + (table(["what", "why"], dropped) if dropped else "<p>nothing</p>")
        + f"<p>Filled: {filled['gaps'].get('steps_inserted', 0)} missing time steps inserted, "
        f"{sum(filled['cells'].values())} cells filled from the asset's previous value.</p>"
        + "<h3>Assets</h3>"
        + table(
            ["asset", "rows", "first", "last", "status"],
            [[a["asset"], a["rows"], a["first"], a["last"], a["status"]] for a in assets[:MAX_ASSETS]],
        )
        + more
    )
