"""`prognos search`: cross-validate several run configs and rank them by mean CV RMSE.

Candidates come from run configs (one TOML file each, named by the file) or sweep files: a `[base]`
run config plus `[[candidate]]` entries, each a `name`, a `doc` and the `data` / `model` / `train` keys
it changes (configs/sweeps/fd001.toml), read by the loader `prognos rul` reads its recipe with
(pipeline.rul.sweeps). `--seeds` adds a copy of every candidate per training seed. The ranking
uses only training engines (k-fold by unit), never
test labels. Candidates are ranked by the test-protocol CV RMSE (last window of truncated held-out
engines, pipeline.cv: the quantity the literature reports); the all-windows RMSE is shown next to
it. Writes search.json and search.md (the table) into the output folder; a candidate whose folder
already holds a cv.json for the same config is not run again (so a search can be extended).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.tables import Table
from prognos.pipeline.config import RunConfig
from prognos.pipeline.rul.cv import cross_validate
from prognos.pipeline.rul.sweeps import sweep_or_run


def candidates(paths, only=None, seeds=()) -> list[tuple[str, RunConfig, str]]:
    """(name, config, source) of every candidate in the run-config and sweep files `paths`."""
    out = [c for path in map(Path, paths) for c in sweep_or_run(path)]
    if only:
        names = [n for n, _, _ in out]
        missing = sorted(set(only) - set(names))
        if missing:
            raise ConfigError(f"--only {','.join(missing)}: no such candidate; expected some of {', '.join(names)}")
        out = [c for c in out if c[0] in only]
    return out + [(f"{n}_s{s}", _seeded(cfg, s), src) for s in seeds for n, cfg, src in out]


def _seeded(cfg: RunConfig, seed: int) -> RunConfig:
    cfg = copy.deepcopy(cfg)
    cfg.train.seed = seed
    return cfg


def run_search(
    config_paths,
    out_dir,
    k: int = 5,
    data_dir: str | None = None,
    epochs: int | None = None,
    split_seed: int | None = None,
    only=None,
    seeds=(),
) -> list:
    named = []
    for name, cfg, path in candidates(config_paths, only, seeds):
        if data_dir:
            cfg.data.data_dir = data_dir
        if epochs:
            cfg.train.epochs = epochs
        if split_seed is not None:  # other engines per fold and other cuts: folds no selection looked at
            cfg.data.seed = split_seed
        named.append((name, cfg, str(path)))
    return search_configs(named, out_dir, k)


def search_configs(named, out_dir, k: int = 5) -> list:
    """Cross-validate (name, RunConfig, source) candidates into out_dir/<name>; the ranked table rows."""
    out = Path(out_dir)
    rows = []
    for name, cfg, source in named:
        summary = _cached(out / name / "cv.json", cfg, k)
        if summary is None:
            print(f"[prognos] search candidate {name} ({cfg.model.name})", flush=True)
            summary = cross_validate(cfg, out / name, k)
        test = summary["test_protocol"]
        rows.append(
            {
                "candidate": name,
                "config": source,
                "model": cfg.model.name,
                "window": cfg.data.window,
                "test_rmse_mean": test["rmse_mean"],
                "test_rmse_std": test["rmse_std"],
                "test_score_per_100": test["score_per_100_engines_mean"],
                **{
                    key: summary[key]
                    for key in (
                        "rmse_mean",
                        "rmse_std",
                        "score_per_window_mean",
                        "coverage_mean",
                        "params",
                        "macs",
                        "seconds",
                    )
                },
                "median_best_epoch": int(np.median(summary["best_epochs"])),
            }
        )
    rows.sort(key=lambda r: r["test_rmse_mean"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps(rows, indent=2))
    (out / "search.md").write_text(markdown(rows, k))
    return rows


def _cached(path: Path, cfg: RunConfig, k: int) -> dict | None:
    """The stored CV summary of `cfg` at `path` if it was made with the same config, k and metrics."""
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    same = summary.get("config") == cfg.to_dict() and summary.get("k") == k and "macs" in summary
    return summary if same else None


def markdown(rows, k: int) -> str:
    out = Table(
        [
            "candidate",
            "model",
            "window",
            "params",
            "MACs / window",
            "CV RMSE, test protocol",
            "NASA score / 100 engines",
            "CV RMSE, all windows",
            "90 % interval coverage",
            "median best epoch",
            "seconds",
        ],
        "llrrrrrrrrr",
        before=[
            f"{k}-fold CV by engine unit, held-out engines only. Test protocol: last window of each "
            "held-out engine cut at random points (pipeline.cv); all windows: every window ending at "
            "cycle >= 30."
        ],
    )
    for r in rows:
        out.add(
            r["candidate"],
            r["model"],
            r["window"],
            f"{r['params']:,}",
            f"{r['macs']:,}" if "macs" in r else "–",  # search.json of runs before MACs were recorded
            f"{r['test_rmse_mean']:.2f} ± {r['test_rmse_std']:.2f}",
            f"{r['test_score_per_100']:.0f}",
            f"{r['rmse_mean']:.2f} ± {r['rmse_std']:.2f}",
            f"{r['coverage_mean']:.3f}",
            r["median_best_epoch"],
            f"{r['seconds']:.0f}",
        )
    return out.markdown()
