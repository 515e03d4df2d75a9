"""`prognos rul`: one recipe from any fleet's training data to RUN/bundles/best (pipeline.rul.recipe)."""

from __future__ import annotations


def register(sub) -> None:
    r = sub.add_parser(
        "rul",
        help="the whole recipe on a fleet: data card, CV by asset of the recipe's candidates, "
        "choice (ensemble, bias shift) on CV, retrain on all assets, calibrated "
        "interval, bundles -> RUN/bundles/best, RUN/recipe.json; a fleet without "
        "failures gets an anomaly bundle instead",
    )
    r.add_argument(
        "--data-dir",
        required=True,
        help="folder with the fleet: C-MAPSS train_<subset>.txt, or the files a --schema describes",
    )
    r.add_argument("--schema", help="dataset spec (TOML) naming the columns of a CSV/Parquet fleet")
    r.add_argument("--subset", help="C-MAPSS subset when the folder holds several (e.g. FD002)")
    r.add_argument("--run", help="output folder (default artifacts/rul-<data folder name>)")
    r.add_argument("--recipe", help="candidate set (default configs/recipe.toml)")
    r.add_argument("--folds", type=int, default=5, help="CV folds by asset (default 5)")
    r.add_argument("--epochs", type=int, help="override every candidate's epochs (quick runs, tests)")
    r.add_argument(
        "--health",
        action="store_true",
        help="the health-monitoring path (anomaly bundle) even if assets "
        "failed; their failures measure how early the alarm rises",
    )
    r.add_argument(
        "--rmse-tolerance",
        type=float,
        help="deploy the cheapest candidate average (MACs per window) within this CV RMSE of the most "
        "accurate one (default: the recipe's [choose], 0.1; larger trades accuracy for speed)",
    )
    r.add_argument(
        "--score-tolerance",
        type=float,
        help="... and within this share of its NASA score (default: the recipe's [choose], 0.05)",
    )
    r.set_defaults(func=cmd_rul)


def cmd_rul(args):
    from pathlib import Path

    from prognos.pipeline.rul.recipe_steps import run_recipe

    run = args.run or f"artifacts/rul-{Path(args.data_dir).resolve().name}"
    tolerances = {"rmse_tolerance": args.rmse_tolerance, "score_tolerance": args.score_tolerance}
    choose = {k: v for k, v in tolerances.items() if v is not None}
    out = run_recipe(
        args.data_dir, run, args.schema, args.subset, args.recipe, args.folds, args.epochs, args.health, choose
    )
    print((Path(run) / "recipe.md").read_text() if (Path(run) / "recipe.md").is_file() else out.get("summary", ""))
    print(f"[prognos] wrote {run}/recipe.json and {run}/bundles/best")
