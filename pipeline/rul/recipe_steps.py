"""`prognos rul` (the recipe of pipeline.rul.recipe), step by step: read the fleet, CV and choose, retrain, bundle.

Each step returns plain data that goes into RUN/recipe.json, so every choice is on record.
"""

from __future__ import annotations

import time
from pathlib import Path

from prognos.pipeline.data.tables import load_fleet, table_of_fleet
from prognos.pipeline.rul.ensemble import average_oof
from prognos.pipeline.rul.recipe import (
    CHOOSE_KEYS,
    RECIPE,
    cheapest_within,
    checked_choose,
    candidate_configs,
    copy_best,
    load_recipe,
    resolve_auto,
    shifted_cv,
    subsets_by_cv,
    write_json,
)

PARITY_BUDGET = 0.5  # bundles/best fallback: the smallest bundle within this RMSE of the Keras model, else fp32


def run_recipe(
    data_dir,
    run_dir,
    schema=None,
    subset=None,
    recipe_path=None,
    folds: int = 5,
    epochs: int | None = None,
    health: bool = False,
    choose: dict | None = None,
) -> dict:
    """The recipe; `health`: the health-monitoring path even if assets failed (their failures then
    measure how early the alarm rises); `choose`: values over the recipe file's [choose] table."""
    run_dir, t0 = Path(run_dir), time.time()
    recipe = load_recipe(recipe_path)
    recipe["choose"].update(checked_choose(choose or {}, "prognos rul --rmse-tolerance/--score-tolerance"))
    run_dir.mkdir(parents=True, exist_ok=True)
    data = data_step(data_dir, schema, subset, run_dir)
    if data["failed"] == 0 or health:
        return with_report(health_step(data, run_dir, t0, epochs), run_dir)
    resolved, why = resolve_auto(data["table"])
    named = candidate_configs(recipe, data["preset"], resolved, data["source"])
    if epochs:
        for _, cfg in named:
            cfg.train.epochs = epochs
    choices = {"resolved": resolved, "why": why, "recipe": str(recipe_path or RECIPE), "choose": recipe["choose"]}
    return with_report(final_step(named, data, run_dir, folds, choices, t0), run_dir)


def with_report(out: dict, run_dir: Path) -> dict:
    """The run's HTML report (data card, recipe, CV plots, bundles) written as the recipe's last step."""
    from prognos.pipeline.report.html import build_report

    out["report"] = str(build_report(run_dir))
    print(f"[prognos] wrote {out['report']}", flush=True)
    return out


def data_step(data_dir, schema, subset, run_dir: Path) -> dict:
    """The fleet (pipeline.data.readers), its data card (pipeline.data.card; printed in short), and
    where the CV will read it from: the C-MAPSS preset reads the text files, any other spec the fleet."""
    from prognos.pipeline.data.card import data_card, summary, write_card

    fleet, spec = load_fleet(data_dir, subset, schema)
    card = data_card(fleet)
    write_card(card, run_dir)
    print(summary(card), flush=True)
    preset = "cmapss" if spec.format == "cmapss" else None
    if preset is None and not schema:
        schema = Path(data_dir) / "schema.toml"  # found there by readers.find_spec
    source = {"data_dir": str(data_dir), "schema": None if preset else str(schema), "subset": subset}
    failed = int(fleet.failed.sum())
    table = table_of_fleet(fleet)[0] if failed else None
    short = {
        "source": str(data_dir),
        "assets": len(fleet.assets),
        "failed": failed,
        "censored": len(fleet.assets) - failed,
        "rows": len(fleet.table),
    }
    return {"fleet": fleet, "card": short, "failed": failed, "preset": preset, "source": source, "table": table}


def choose(cv_dirs: dict, rule: dict | None = None) -> dict:
    """The subset of candidates to deploy by the recipe's [choose] rule (recipe.cheapest_within; default
    recipe.CHOOSE_KEYS), and whether a bias shift pays."""
    subsets = subsets_by_cv(cv_dirs)
    best, why = cheapest_within(subsets, **(rule or CHOOSE_KEYS))
    shifted = shifted_cv(average_oof([cv_dirs[m] for m in best["members"]]))
    # adopted only if, cross-fitted, it lowers the NASA score without raising the RMSE
    adopt = shifted["score_per_100"] < best["score_per_100"] and shifted["test_rmse"] <= best["test_rmse"]
    return {
        "members": best["members"],
        "cv": {"test_rmse": best["test_rmse"], "score_per_100": best["score_per_100"], "macs": best["macs"]},
        "why": why,
        "rule": rule or CHOOSE_KEYS,
        "shift": {**shifted, "adopted": adopt},
        "offset": shifted["shift"] if adopt else 0.0,
        "subsets": subsets,
    }


def best_bundle(bundles: dict) -> str:
    """The smallest bundle whose predictions stay within PARITY_BUDGET RMSE of the Keras model."""
    ok = {n: b for n, b in bundles.items() if "error" not in b and abs(b["rmse_delta_vs_keras"]) <= PARITY_BUDGET}
    return min(ok, key=lambda n: ok[n]["size_bytes"]) if ok else "tflite_fp32"


def final_step(named, data: dict, run_dir: Path, k: int, choices: dict, t0: float) -> dict:
    from prognos.pipeline.rul.final import final_run
    from prognos.pipeline.rul.search import search_configs

    rows = search_configs([(n, c, "recipe") for n, c in named], run_dir / "cv", k)
    cv_dirs = {n: run_dir / "cv" / n for n, _ in named}
    chosen = choose(cv_dirs, choices["choose"])
    print(
        f"[prognos] chosen on CV: {' + '.join(chosen['members'])} (test-protocol RMSE "
        f"{chosen['cv']['test_rmse']:.2f}, NASA {chosen['cv']['score_per_100']:.0f} / 100; bias shift "
        f"{chosen['offset']:+.1f} cycles): {chosen['why']}",
        flush=True,
    )
    t_cv = time.time() - t0
    result = final_run([cv_dirs[m] for m in chosen["members"]], run_dir, offset=chosen["offset"])
    best = result["best"]["chosen"]  # pipeline.rul.final: the fastest bundle within budget, measured here
    if best is None:  # none within budget: still deploy one, the smallest close enough to Keras (or fp32)
        best = best_bundle(result["bundles"])
        copy_best(run_dir, best)
    out = {
        "data": data["card"],
        "choices": choices,
        "candidates": rows,
        "chosen": chosen,
        "best_bundle": best,
        "final": result,
        "seconds": {
            "cv": round(t_cv, 1),
            "total": round(time.time() - t0, 1),
            # a candidate whose CV was found on disk (same config) took its time in an earlier run
            "cv_of_candidates": round(sum(r["seconds"] for r in rows), 1),
        },
    }
    write_json(run_dir / "recipe.json", out)
    (run_dir / "recipe.md").write_text(summary_md(out))
    return out


def summary_md(out: dict) -> str:
    c = out["chosen"]
    lines = [
        f"# prognos rul: {out['data']['source']}",
        "",
        f"{out['data']['assets']} assets ({out['data']['failed']} failed). Candidates (CV by asset):",
        "",
        "| candidate | CV RMSE, test protocol | NASA / 100 | MACs / window |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['candidate']} | {r['test_rmse_mean']:.2f} ± {r['test_rmse_std']:.2f} | {r['test_score_per_100']:.0f} "
        f"| {format(r['macs'], ',') if r.get('macs') else '–'} |"
        for r in out["candidates"]
    ]
    lines += [
        "",
        f"Chosen: {' + '.join(c['members'])}: {c['cv']['test_rmse']:.2f} / {c['cv']['score_per_100']:.0f}; "
        f"with the bias shift ({c['shift']['shift']:+.1f}, cross-fitted): {c['shift']['test_rmse']:.2f} / "
        f"{c['shift']['score_per_100']:.0f} ({'adopted' if c['shift']['adopted'] else 'not adopted'}). "
        f"Why this subset: {c['why']}.",
        f"Deployed: bundles/best = {out['best_bundle']}. {out['seconds']['total']:.0f} s in this run; the "
        f"candidates' CV took {out['seconds']['cv_of_candidates']:.0f} s (reused where a CV folder was found).",
    ]
    return "\n".join(lines) + "\n"


def health_step(data: dict, run_dir: Path, t0: float, epochs: int | None = None) -> dict:
    from prognos.pipeline.rul.health import HealthConfig, health_run

    if not data["failed"]:
        print(
            "[prognos] no asset in this fleet failed: there is nothing to learn a remaining useful life from. "
            "Taking the health-monitoring path: an autoencoder on each asset's early (healthy) history, alarms "
            "when new windows stop looking like it.",
            flush=True,
        )
    cfg = HealthConfig(**({"epochs": epochs} if epochs else {}))
    out = {"data": data["card"], "path": "health monitoring (no failures)", **health_run(data["fleet"], run_dir, cfg)}
    out["seconds"] = {"total": round(time.time() - t0, 1)}
    write_json(run_dir / "recipe.json", out)
    (run_dir / "recipe.md").write_text(health_md(out))
    return out


def health_md(out: dict) -> str:
    leads = out["cycles_before_failure_alarm_rose"]
    return "\n".join(
        [
            f"# prognos rul: {out['data']['source']}",
            "",
            f"Health monitoring ({out['data']['assets']} assets, {out['data']['failed']} failed). "
            "Autoencoder on the "
            f"first {out['config']['healthy_share']:.0%} of each asset's history, window {out['window']}, "
            f"{out['regimes']} regime(s).",
            f"False alarms on held-out healthy windows: {out['false_alarm_rate_check_healthy']:.3f} "
            f"(threshold {out['threshold']:.4g}, the {out['config']['quantile']} quantile of other "
            "held-out healthy assets).",
            f"Alarm lead before a known failure (check assets): {leads or 'no failures known'}.",
            f"Deployed: {out['bundle']} (task anomaly).",
            "",
        ]
    )
