"""The "Recipe" section of `prognos report`, rendered from <run>/recipe.json (`prognos rul`, pipeline.rul.recipe_steps).

What the recipe decided and on what grounds: the values it resolved on the training data ("auto") and
why, every candidate's cross-validation, the chosen subset (the lowest test-protocol CV RMSE among
all subsets of candidates, averaged out of fold), the bias-shift decision, the deployed bundle and
the time taken. A fleet without failures took the health-monitoring path: its false alarms, alarm
lead times and anomaly bundle instead.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from prognos.pipeline.report.card import Missing
from prognos.pipeline.report.data_card import table

RECIPE_FILE = "recipe.json"
MAX_SUBSETS = 8


def section(run: Path) -> str:
    path = Path(run) / RECIPE_FILE
    if not path.is_file():
        raise Missing(f"prognos rul --data-dir DATA_DIR --run {run}")
    out = json.loads(path.read_text())
    if "chosen" not in out:
        return _summary(out) + _health(out)
    return _summary(out) + _resolved(out) + _candidates(out) + _chosen(out) + _shift(out) + _deployed(out)


def _summary(out: dict) -> str:
    d, s = out["data"], out.get("seconds", {})
    took = f"{s.get('total', 0):.0f} s in all" + (f" (cross-validation {s['cv']:.0f} s)" if "cv" in s else "")
    return (
        f"<p>From <code>{html.escape(str(d['source']))}</code>: {d['assets']} assets ({d['failed']} failed, "
        f"{d['censored']} censored), {d['rows']} rows. {took}.</p>"
    )


def _resolved(out: dict) -> str:
    c = out["choices"]
    rows = [[k, v, c["why"].get(k, "")] for k, v in c["resolved"].items()]
    return (
        f"<h3>Resolved on the training data</h3><p>Candidates from <code>{html.escape(str(c['recipe']))}</code>; "
        'its "auto" values, decided here:</p>' + table(["value", "resolved", "why"], rows)
    )


def _candidates(out: dict) -> str:
    rows = [
        [
            r["candidate"],
            r["model"],
            r["window"],
            f"{r['test_rmse_mean']:.2f} ± {r['test_rmse_std']:.2f}",
            r["test_score_per_100"],
            r.get("params"),
            r.get("median_best_epoch"),
            r.get("seconds"),
        ]
        for r in out["candidates"]
    ]
    header = ["candidate", "model", "window", "CV RMSE (test protocol)", "NASA / 100", "params", "epochs", "CV s"]
    return "<h3>Candidates (cross-validated by asset)</h3>" + table(header, rows)


def _chosen(out: dict) -> str:
    c = out["chosen"]
    subsets = c.get("subsets", [])
    rows = [
        [
            " + ".join(s["members"]) + (" (chosen)" if s["members"] == c["members"] else ""),
            s["test_rmse"],
            s["score_per_100"],
            s.get("macs"),
        ]
        for s in subsets[:MAX_SUBSETS]
    ]
    why = c.get("why", "the lowest test-protocol CV RMSE")  # recipe.json of runs before the [choose] rule
    return (
        f"<h3>Chosen: {html.escape(' + '.join(c['members']))}</h3>"
        f"<p>CV RMSE {c['cv']['test_rmse']:.2f}, NASA score {c['cv']['score_per_100']:.0f} per 100 assets (test "
        f"protocol). Why: {html.escape(why)}, among the {len(subsets)} subsets of candidates, each scored as the "
        "average of its members' out-of-fold predictions. The most accurate subsets:</p>"
        + table(["subset", "CV RMSE", "NASA / 100", "MACs / window"], rows)
    )


def _shift(out: dict) -> str:
    c = out["chosen"]
    s = c["shift"]
    verdict = (
        f"adopted: the bundle adds {c['offset']:+.1f} to every prediction"
        if s["adopted"]
        else "not adopted: it must lower the NASA score without raising the RMSE"
    )
    return (
        f"<h3>Bias shift</h3><p>{html.escape(s.get('rule', ''))}. Shift {s['shift']:+.1f}: cross-fitted RMSE "
        f"{s['test_rmse']:.2f} and NASA {s['score_per_100']:.0f} against {c['cv']['test_rmse']:.2f} and "
        f"{c['cv']['score_per_100']:.0f} unshifted; {verdict}.</p>"
    )


def _deployed(out: dict) -> str:
    final = out.get("final", {})
    why = (final.get("best") or {}).get("why")
    rows = [
        [n, b.get("size_bytes"), b.get("rmse_delta_vs_keras"), b.get("error")]
        for n, b in final.get("bundles", {}).items()
    ]
    return (
        f"<h3>Deployed</h3><p><code>bundles/best</code> = <b>{html.escape(str(out['best_bundle']))}</b>"
        + (f": {html.escape(str(why))}" if why else "")
        + ".</p>"
        + (table(["bundle", "bytes", "RMSE vs Keras", "error"], rows) if rows else "")
    )


def _health(out: dict) -> str:
    leads = out.get("cycles_before_failure_alarm_rose") or "no failures known"
    return (
        f"<p>Path: {html.escape(out.get('path', 'health monitoring'))}. False alarms on held-out healthy windows: "
        f"{out['false_alarm_rate_check_healthy']:.3f} (threshold {out['threshold']:.4g}). Alarm lead before a known "
        f"failure: {html.escape(str(leads))}. Deployed: <code>{html.escape(str(out.get('bundle')))}</code> "
        "(task anomaly).</p>"
    )
