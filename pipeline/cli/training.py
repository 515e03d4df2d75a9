"""RUL training commands: simulate, train, cv, search, ensemble, final, evaluate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from prognos.edge_runtime.cli import count
from prognos.pipeline.cli.common import add_run, add_train, run_config
from prognos.pipeline.cli.sign import add_sign_key, sign_written


def register(sub) -> None:
    s = sub.add_parser("simulate", help="write a simulated turbofan fleet in the C-MAPSS text format")
    s.add_argument("--out", default="artifacts/sim-data", help="output folder (default artifacts/sim-data)")
    s.add_argument("--units", type=count, default=100, help="training and test units each (default 100)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_simulate)
    t = sub.add_parser("train", help="train a model; writes model.keras, metrics, plots into --run")
    add_run(t)
    add_train(t)
    t.set_defaults(func=cmd_train)
    v = sub.add_parser("evaluate", help="last-window RUL of test units from a bundle or a run; RMSE with --rul")
    v.add_argument("--test", required=True, help="C-MAPSS test file (e.g. test_FD001.txt)")
    v.add_argument("--rul", help="true RUL file, one integer per line in unit order")
    v.add_argument("--bundle", help="bundle directory")
    v.add_argument("--run", help="training run folder (evaluates its Keras model)")
    v.set_defaults(func=cmd_evaluate)
    c = sub.add_parser("cv", help="k-fold cross-validation by engine unit; writes cv.json and plots into --run")
    add_run(c)
    add_train(c)
    c.add_argument("--folds", type=count, default=5, help="number of folds (default 5)")
    c.set_defaults(func=cmd_cv)
    se = sub.add_parser("search", help="cross-validate several TOML configs and rank them by CV RMSE")
    se.add_argument(
        "configs",
        nargs="+",
        help="run configs (one candidate each) or sweep files (a base plus "
        "[[candidate]] entries, e.g. configs/sweeps/fd001.toml)",
    )
    se.add_argument("--only", help="comma-separated candidate names to run (default: all)")
    se.add_argument("--seeds", help="comma-separated training seeds: adds NAME_s<seed> per candidate")
    se.add_argument("--out", default="artifacts/search", help="output folder (default artifacts/search)")
    se.add_argument("--folds", type=count, default=5, help="number of folds (default 5)")
    se.add_argument("--data-dir", help="override every candidate's data folder")
    se.add_argument("--epochs", type=count, help="override every candidate's maximum epochs (quick searches)")
    se.add_argument(
        "--split-seed",
        type=int,
        help="override every candidate's data.seed: another split into "
        "folds and other test-protocol cuts, to check a choice on folds it was not selected on",
    )
    se.set_defaults(func=cmd_search)
    en = sub.add_parser("ensemble", help="CV score of averaging search candidates' out-of-fold predictions")
    en.add_argument("cv_dirs", nargs="+", help="candidate folders with cv.json and oof.npz (same folds)")
    en.add_argument("--out", help="also write the summary to this JSON file")
    en.set_defaults(func=cmd_ensemble)
    fi = sub.add_parser(
        "final",
        help="retrain chosen CV candidate(s) on every training unit (median best epoch), "
        "export, interval from out-of-fold residuals; final.json",
    )
    fi.add_argument(
        "cv_dirs", nargs="+", help="candidate folders with cv.json and oof.npz; several: one averaged ensemble model"
    )
    add_run(fi, required=True)
    fi.add_argument(
        "--formats",
        help="export-table variants to build, comma-separated (default: every layout of "
        "pipeline.rul.final.FORMATS: fused, DenseLSTM, dynamic-range, ONNX and merged; each is measured "
        "here and the fastest within 0.3 RMSE of Keras becomes RUN/bundles/best). A GRU has no fused "
        "op and its int8 calibration crashes the converter: use tflite_int8 (unrolled) for it",
    )
    add_sign_key(fi)
    fi.set_defaults(func=cmd_final)


def cmd_simulate(args):
    from prognos.pipeline.data.simulate import write_dataset

    out = write_dataset(args.out, args.units, args.units, args.seed)
    print(f"[prognos] wrote {out}/train_SIM.txt, test_SIM.txt, RUL_SIM.txt")


def cmd_train(args):
    from prognos.pipeline.rul.train import train_run
    from prognos.pipeline.scale.distribute import artifact_dir

    metrics = train_run(run_config(args), args.run)
    print(json.dumps(metrics, indent=2))
    print(
        f"[prognos] artifacts in {artifact_dir(args.run)}/ (model.keras, metrics.json, learning_curve.png, "
        "rul_validation.png)"
    )


def cmd_evaluate(args):
    from prognos.pipeline.rul.evaluate import evaluate

    print(json.dumps(evaluate(args.test, args.rul, args.bundle, args.run), indent=2))


def cmd_cv(args):
    from prognos.pipeline.rul.cv import cross_validate

    summary = cross_validate(run_config(args), args.run, args.folds)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))
    print(f"[prognos] wrote {args.run}/cv.json, cv_rul_per_engine.png, cv_error_histogram.png, cv_folds.png")


def cmd_search(args):
    from prognos.pipeline.rul.search import run_search

    only = args.only.split(",") if args.only else None
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else ()
    run_search(args.configs, args.out, args.folds, args.data_dir, args.epochs, args.split_seed, only, seeds)
    print((Path(args.out) / "search.md").read_text())


def cmd_ensemble(args):
    from prognos.pipeline.rul.ensemble import score_ensemble

    summary = score_ensemble(args.cv_dirs)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2))
    print(
        json.dumps(
            {
                k: summary[k]
                for k in (
                    "members",
                    "params",
                    "member_test_rmse",
                    "member_rmse",
                    "rmse_mean",
                    "rmse_std",
                    "coverage_mean",
                    "test_protocol",
                )
            },
            indent=2,
        )
    )
    t = summary["test_protocol"]
    print(
        f"[prognos] average of {len(args.cv_dirs)}: CV RMSE {t['rmse_mean']:.2f} ± {t['rmse_std']:.2f} test protocol "
        f"(NASA {t['score_per_100_engines_mean']:.0f} / 100 engines), {summary['rmse_mean']:.2f} ± "
        f"{summary['rmse_std']:.2f} all windows; 90 % interval coverage {summary['coverage_mean']:.3f} / "
        f"{t['coverage_mean']:.3f}",
        file=sys.stderr,
    )


def cmd_final(args):
    from prognos.pipeline.rul.final import FORMATS, final_run

    result = final_run(args.cv_dirs, args.run, args.formats.split(",") if args.formats else FORMATS)
    sign_written(args, [Path(args.run) / "bundles" / f for f, row in result["bundles"].items() if "error" not in row])
    print(json.dumps(result, indent=2))
    print(f"[prognos] wrote {args.run}/final.json, model.keras and bundles/")
