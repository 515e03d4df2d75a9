"""`prognos search`: cross-validate several run configs and rank them by mean CV RMSE.

Each candidate is one TOML file; the ranking uses only training engines (k-fold by unit), never
test labels. Writes search.json and search.md (the table) into the output folder.
"""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.cv import cross_validate


def run_search(config_paths, out_dir, k: int = 5, data_dir: str | None = None, epochs: int | None = None) -> list:
    out = Path(out_dir)
    rows = []
    for path in config_paths:
        cfg = RunConfig.load(path)
        if data_dir:
            cfg.data.data_dir = data_dir
        if epochs:
            cfg.train.epochs = epochs
        name = Path(path).stem
        print(f"[prognos] search candidate {name} ({cfg.model.name})", flush=True)
        summary = cross_validate(cfg, out / name, k)
        rows.append({"candidate": name, "config": str(path), "model": cfg.model.name, **{
            key: summary[key] for key in ("rmse_mean", "rmse_std", "score_per_window_mean", "coverage_mean",
                                          "params", "seconds")}})
    rows.sort(key=lambda r: r["rmse_mean"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps(rows, indent=2))
    (out / "search.md").write_text(markdown(rows, k))
    return rows


def markdown(rows, k: int) -> str:
    lines = [f"{k}-fold CV by engine unit (out-of-fold windows)", "",
             "| candidate | model | params | CV RMSE | NASA score / window | 90 % interval coverage | seconds |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['candidate']} | {r['model']} | {r['params']:,} | {r['rmse_mean']:.2f} ± {r['rmse_std']:.2f} "
                     f"| {r['score_per_window_mean']:.2f} | {r['coverage_mean']:.3f} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"
