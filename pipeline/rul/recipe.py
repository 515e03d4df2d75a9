"""`prognos rul`: one recipe from a fleet's training data to a deployed bundle, choices made on CV.

data (C-MAPSS preset or a dataset spec) -> data card -> [no failed asset: health monitoring,
pipeline.rul.health] -> "auto" values resolved on the training assets -> k-fold CV by asset of every
candidate of the recipe file (configs/recipe.toml: a base config and the keys each candidate varies)
-> of the candidates and averages of candidates, the cheapest (MACs per window) within the recipe's
[choose] tolerances of the lowest test-protocol CV RMSE and NASA score -> a bias shift fitted
on out-of-fold residuals to lower the NASA score (late predictions cost more) -> retrain on every asset
(pipeline.rul.final), interval calibrated out of fold -> RUN/bundles/<format> and RUN/bundles/best ->
RUN/recipe.json (every choice, with the numbers it was made on) and RUN/recipe.md.

No choice depends on which data set this is beyond the recipe file's presets (e.g. C-MAPSS keeps
the literature's RUL cap so its CV numbers compare with published ones).
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.scoring import rul_metrics
from prognos.pipeline.config import RunConfig
from prognos.pipeline.rul.sweeps import load_sweep, merge, run_configs
from prognos.pipeline.rul.ensemble import average_oof, folds_of, shared_data
from prognos.pipeline.rul.cv import summarize

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "recipe.toml"
CAP_SHARE = 0.6  # rul_cap "auto": this share of the median training life (C-MAPSS: 125 ~ 0.6 x 206)
SHIFTS = np.arange(-15.0, 0.01, 0.5)  # candidate bias shifts [cycles]: only earlier predictions
SHIFT_RMSE_TOLERANCE = 1.02  # a shift may cost at most 2 % RMSE
CHOOSE_KEYS = {"rmse_tolerance": 0.1, "score_tolerance": 0.05}  # [choose] of the recipe file, defaults


def load_recipe(path=None) -> dict:
    """The recipe's candidate file (pipeline.rul.sweeps, the loader `prognos search` uses too), its
    [choose] table checked and completed with the defaults."""
    path = path or RECIPE
    recipe = load_sweep(path)
    return {**recipe, "choose": {**CHOOSE_KEYS, **checked_choose(recipe.get("choose", {}), f"{path}: [choose]")}}


def checked_choose(table, where: str) -> dict:
    """`table` (the recipe's [choose], or command-line overrides) if its keys and values are valid."""
    unknown = set(table) - set(CHOOSE_KEYS) if isinstance(table, dict) else None
    if unknown is None or unknown:
        raise ConfigError(f"{where}: expected keys {sorted(CHOOSE_KEYS)}; got {sorted(unknown or [str(table)])}")
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{where}: {key} = {value!r}: expected a number >= 0")
    return table


def candidate_configs(recipe: dict, preset: str | None, resolved: dict, source: dict) -> list[tuple[str, RunConfig]]:
    """(name, RunConfig) per candidate: base, then the preset, then the candidate's keys, then the
    values the recipe resolved on the data and where the data is."""

    def resolve(d: dict) -> dict:
        data = {**source, "window": min(d.get("data", {}).get("window", 50), resolved["window_cap"])}
        if d.get("data", {}).get("rul_cap") == "auto":
            data["rul_cap"] = resolved["rul_cap"]
        return merge(d, {"data": data})

    return run_configs(recipe, preset, resolve)


def resolve_auto(table: np.ndarray) -> tuple[dict, dict]:
    """Values of the training data for "auto" keys (and the window cap), and why."""
    lives = np.unique(table[:, 0], return_counts=True)[1]
    cap = float(5 * round(CAP_SHARE * np.median(lives) / 5))
    why = {
        "rul_cap": f"{CAP_SHARE} x median training life {np.median(lives):.0f}, to 5 cycles (if 'auto')",
        "window_cap": f"half the shortest training life ({lives.min()}): no candidate's window is longer",
    }
    return {"rul_cap": cap, "window_cap": int(max(5, lives.min() // 2))}, why


def subsets_by_cv(cv_dirs: dict, coverage: float = 0.9) -> list[dict]:
    """Every non-empty subset of the candidates that can form one bundle (members sharing their [data]
    settings but the window), its averaged out-of-fold predictions scored like one candidate
    (pipeline.ensemble) and its MACs per window (the members' sum); sorted by test-protocol CV RMSE,
    fewer members first on ties."""
    macs = {m: json.loads((Path(d) / "cv.json").read_text()).get("macs") for m, d in cv_dirs.items()}
    rows = []
    for n in range(1, len(cv_dirs) + 1):
        for names in itertools.combinations(cv_dirs, n):
            if not shared_data([cv_dirs[m] for m in names]):
                continue
            t = summarize(folds_of(average_oof([cv_dirs[m] for m in names])), coverage)["test_protocol"]
            cost = [macs[m] for m in names]
            rows.append(
                {
                    "members": list(names),
                    "test_rmse": t["rmse_mean"],
                    "score_per_100": t["score_per_100_engines_mean"],
                    "macs": None if None in cost else int(sum(cost)),
                }
            )
    return sorted(rows, key=lambda r: (r["test_rmse"], len(r["members"])))


def cheapest_within(subsets: list[dict], rmse_tolerance: float, score_tolerance: float) -> tuple[dict, str]:
    """The subset to deploy, and why: the one with the fewest MACs per window among those within
    `rmse_tolerance` (cycles) of the lowest CV RMSE and within `score_tolerance` (a share) of that
    subset's NASA score; ties and unknown MACs: the lower RMSE. Both 0: the most accurate one."""
    best = subsets[0]
    ok = [
        s
        for s in subsets
        if s["test_rmse"] <= best["test_rmse"] + rmse_tolerance
        and s["score_per_100"] <= best["score_per_100"] * (1 + score_tolerance)
    ]
    chosen = min(ok, key=lambda s: (float("inf") if s["macs"] is None else s["macs"], s["test_rmse"]))
    if chosen is best:
        return best, "the lowest test-protocol CV RMSE, and no cheaper subset within the tolerances"
    return chosen, (
        f"the fewest MACs per window ({chosen['macs']:,} vs {best['macs']:,}) within {rmse_tolerance:g} RMSE "
        f"and {100 * score_tolerance:g} % NASA score of the most accurate subset ({' + '.join(best['members'])}: "
        f"{best['test_rmse']:.3f} / {best['score_per_100']:.0f})"
    )


def fit_shift(pred: np.ndarray, true: np.ndarray) -> float:
    """The bias shift b <= 0 with the lowest NASA score among those costing <= 2 % RMSE."""
    base = rul_metrics(pred, true)["rmse"]
    ok = [b for b in SHIFTS if rul_metrics(shift(pred, b), true)["rmse"] <= base * SHIFT_RMSE_TOLERANCE]
    return float(min(ok, key=lambda b: rul_metrics(shift(pred, b), true)["score"]))


def shift(pred: np.ndarray, b: float) -> np.ndarray:
    """Predictions shifted by b and clipped at 0, as the device applies a bundle's rul_offset."""
    return np.maximum(pred + b, 0.0) if b else pred


def shifted_cv(oof: dict) -> dict:
    """Test-protocol CV with a shift fitted on the other folds' cuts (cross-fitted: honest), and the
    shift fitted on every fold's cuts (the one the bundle gets)."""
    folds = folds_of(oof)
    preds, trues = [], []
    for i, f in enumerate(folds):
        others = [g for j, g in enumerate(folds) if j != i]
        b = fit_shift(np.concatenate([g["cut_pred"] for g in others]), np.concatenate([g["cut_true"] for g in others]))
        preds.append(shift(f["cut_pred"], b))
        trues.append(f["cut_true"])
    per_fold = [rul_metrics(p, t) for p, t in zip(preds, trues)]
    return {
        "shift": fit_shift(oof["cut_pred"], oof["cut_true"]),
        "test_rmse": round(float(np.mean([m["rmse"] for m in per_fold])), 3),
        "score_per_100": round(float(np.mean([100 * m["score"] / m["n"] for m in per_fold])), 1),
        "rule": f"b in {SHIFTS[0]:g}..0 with the lowest NASA score on out-of-fold cuts, RMSE cost <= "
        f"{round(100 * (SHIFT_RMSE_TOLERANCE - 1))} %; CV: b fitted on the other folds",
    }


def copy_best(run_dir: Path, name: str) -> Path:
    best = run_dir / "bundles" / "best"
    shutil.rmtree(best, ignore_errors=True)
    shutil.copytree(run_dir / "bundles" / name, best)
    return best


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
