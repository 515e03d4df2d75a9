"""`prognos report`: one self-contained HTML page for a run folder -> <run>/report/index.html.

Sections: data card (data_card.json, when the run has one: columns, assets, what was filled and
dropped), recipe (recipe.json of `prognos rul`: candidates, the chosen subset and why, bias shift,
resolved "auto" values, the deployed bundle, time taken), model card (data, preprocessing, metrics, intended use, limits, from config.json /
preprocessor.json / metrics.json / parity.json), learning curves, predictions (RUL per validation
engine for RUL runs; confusion matrix and ROC for the vibration classifier; detection and ROC for
the vibration autoencoder), compression trade-off (report/bench.json, else report/optimize.json),
the benchmark table (report/bench.json) and the LiteRT per-op profile (report/profile.json). Figures
are matplotlib PNGs embedded as base64 data URIs and the CSS is inline: the file opens from disk
with no server and no network. A piece the run lacks is shown as "not available: run `make …`".
"""

from __future__ import annotations

import base64
import csv
import html
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import DataError
from prognos.pipeline.report import card as report_card, data_card as report_data_card, figs as report_figs
from prognos.pipeline.report import recipe as report_recipe
from prognos.pipeline.report.card import Missing

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
img.fig{max-width:100%;border:1px solid #eee;margin:.4em 0}table{border-collapse:collapse;font-size:.8em}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}td.r{text-align:right}td.c{text-align:center}
.na{background:#fff4e0;border-left:4px solid #f0a020;padding:.4em .8em}code{background:#f4f4f4;padding:0 .2em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0}"""


def _json(run: Path, rel: str):
    path = run / rel
    return json.loads(path.read_text()) if path.is_file() else None


def img(png: bytes, alt: str) -> str:
    return f'<img class="fig" alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _history(run: Path) -> dict:
    if (run / "history.csv").is_file():
        with open(run / "history.csv") as f:
            rows = list(csv.DictReader(f))
        return {k: [float(r[k]) for r in rows] for k in rows[0] if k != "epoch"} if rows else {}
    return _json(run, "history.json") or {}


def curves(run: Path) -> str:
    history = _history(run)
    if not history:
        raise Missing(f"make train RUN={run}")
    return img(report_figs.learning_curves(history), "learning curves")


def predictions(run: Path) -> str:
    metrics = _json(run, "metrics.json") or {}
    if "confusion_keras" in metrics:
        parts = [img(report_figs.confusion_matrix(metrics["confusion_keras"], metrics["classes"]), "confusion matrix")]
        val = run / "val_predictions.npz"
        if not val.is_file():
            return parts[0] + _na(f"make demo-vibration VIB_RUN={run} (ROC needs val_predictions.npz)")
        d = np.load(val)
        curves = {c: (d["prob"][:, k], d["y"] == k) for k, c in enumerate(metrics["classes"]) if np.any(d["y"] == k)}
        return parts[0] + img(report_figs.roc(curves), "ROC one-vs-rest")
    parts = [
        img((run / p).read_bytes(), p) for p in ("rul_validation.png", "cv_rul_per_engine.png") if (run / p).is_file()
    ]
    if not parts:
        raise Missing(f"make train RUN={run}")
    return "<p>Predicted vs true RUL over the life of validation engines (written by training).</p>" + "".join(parts)


def anomaly(run: Path) -> str:
    m = _json(run, "anomaly_metrics.json")
    if m is None:
        raise Missing(f"prognos vibration-anomaly --run {run}")
    k = m["keras"]
    text = (
        f"<p>{m.get('model', 'autoencoder')}, Keras: threshold {k['threshold']:.4g}, false-alarm rate "
        f"{k['false_alarm_rate']:.3f}, detection rate {k['detection_rate']:.3f}, AUC {k['auc']:.3f}.</p>"
    )
    scores = run / "anomaly_scores.npz"
    if not scores.is_file():
        return text + _na(f"prognos vibration-anomaly --run {run} (ROC needs anomaly_scores.npz)")
    d = np.load(scores)
    return text + img(
        report_figs.roc({f"{m.get('model', 'autoencoder')} score": (d["score"], d["y"] != 0)}), "anomaly ROC"
    )


def _tradeoff_rows(run: Path):
    bench = _json(run, "report/bench.json")
    if bench:
        rows = [
            r for m in bench["models"] for r in m["rows"] if "error" not in r and r["threads"] == bench["threads"][0]
        ]
        return [
            {
                "format": r["format"],
                "gzip_kb": r["gzip_bytes"] / 1024,
                "p50_us": r["p50_us"],
                "metric": r["val"]["rmse"],
            }
            for r in rows
        ], "report/bench.json"
    opt = _json(run, "report/optimize.json")
    if opt:
        return [
            {"format": r["format"], "gzip_kb": r["gzip_bytes"] / 1024, "p50_us": r["p50_us"], "metric": r["val_rmse"]}
            for r in opt["rows"]
            if "error" not in r
        ], "report/optimize.json"
    raise Missing(f"make bench RUN={run} (or make optimize RUN={run})")


def _rul_only(run: Path) -> None:
    if (run / "dsp_spec.json").is_file() or (run / "anomaly_metrics.json").is_file():
        raise Missing("nothing yet: prognos bench and optimize measure RUL runs only")


def tradeoff(run: Path) -> str:
    _rul_only(run)
    rows, source = _tradeoff_rows(run)
    return f"<p>From <code>{source}</code>.</p>" + img(
        report_figs.tradeoff(rows, "validation RMSE [cycles]"), "size and latency vs RMSE"
    )


def bench(run: Path) -> str:
    _rul_only(run)
    from prognos.export.bench_table import table

    result = _json(run, "report/bench.json")
    if result is None:
        raise Missing(f"make bench RUN={run}")
    return table(result).html()


def profile(run: Path) -> str:
    from prognos.export.profile import table

    p = _json(run, "report/profile.json")
    if p is None:
        raise Missing(f"make profile RUN={run}")
    method = "".join(f"<p>{html.escape(par)}</p>" for par in p["method"].split("\n\n"))
    return (
        table(p).html()
        + img(report_figs.op_profile(p["by_type"], f"LiteRT ops of {p['format']}"), "LiteRT op profile")
        + f"<details><summary>Method and limits</summary>"
        f"{method}</details>"
    )


def _na(command: str) -> str:
    if command.startswith("nothing yet"):  # no command makes it
        return f'<p class="na">not available: {html.escape(command)}</p>'
    return f'<p class="na">not available: run <code>{html.escape(command)}</code></p>'


SECTIONS = [
    ("Data card", report_data_card.section),
    ("Recipe", report_recipe.section),
    ("Model card", report_card.card),
    ("Learning curves", curves),
    ("Predictions", predictions),
    ("Anomaly detection", anomaly),
    ("Compression trade-off", tradeoff),
    ("Benchmark", bench),
    ("LiteRT per-op profile", profile),
]
ONLY_WITH = {
    "Anomaly detection": "anomaly_metrics.json",
    "Data card": report_data_card.CARD_FILE,
    "Recipe": report_recipe.RECIPE_FILE,
}


def build_report(run_dir) -> Path:
    run = Path(run_dir)
    if not run.is_dir():
        raise DataError(f"{run}: no such run folder; expected the --run of `prognos train` or `make demo`")
    body = []
    for title, fn in SECTIONS:
        if title in ONLY_WITH and not (run / ONLY_WITH[title]).is_file():
            continue  # only vibration runs have anomaly metrics; only fleet recipes write a data card
        try:
            content = fn(run)
        except Missing as e:
            content = _na(str(e))
        body.append(f'<section id="{title.lower().replace(" ", "-")}"><h2>{title}</h2>\n{content}</section>')
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>prognos report: {html.escape(str(run))}'
        f"</title><style>{CSS}</style></head><body><h1>prognos report: <code>{html.escape(str(run))}</code></h1>"
        f"<p>Generated {date} by <code>prognos report --run {html.escape(str(run))}</code>.</p>\n"
        + "\n".join(body)
        + "</body></html>\n"
    )
    out = run / "report" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
