"""Export-table commands: export, quantize, prune, cluster, qat, optimize, formats, profile, zoo-report."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from prognos.edge_runtime.cli import nonnegative, positive
from prognos.edge_runtime.errors import PrognosError
from prognos.pipeline.cli.common import add_export, add_run, formats_of, tune_of
from prognos.pipeline.cli.sign import sign_written


def register(sub) -> None:
    from prognos.export.formats import GROUPS

    for name, what in GROUPS.items():
        e = sub.add_parser(name, help=f"convert a trained run to {what} bundles, with a parity check")
        add_export(e)
        e.set_defaults(func=partial(cmd_export, group=name))
    o = sub.add_parser(
        "optimize",
        help="build every variant, keep the fastest (or smallest) one within an RMSE "
        "budget as bundles/best; trade-off table and plot in report/",
    )
    add_export(o)
    o.add_argument(
        "--budget", type=nonnegative, required=True, help="allowed validation RMSE above the Keras model [cycles]"
    )
    o.add_argument(
        "--prefer",
        choices=("fastest", "smallest"),
        default="fastest",
        help="fastest: lowest single-window latency; smallest: lowest gzip size (default fastest)",
    )
    o.add_argument("--min-seconds", type=positive, default=1.0, help="timed seconds per candidate (default 1)")
    o.add_argument("--reuse", action="store_true", help="keep verified bundles newer than model.keras (no rebuild)")
    o.add_argument(
        "--target",
        help="microcontroller (export.targets: cortex-m4, cortex-m7, esp32-s3): choose only among the variants "
        "whose model, TFLM arena and preprocessing buffers fit it",
    )
    o.set_defaults(func=cmd_optimize)
    sub.add_parser("formats", help="list the export table").set_defaults(func=cmd_formats)
    pr = sub.add_parser(
        "profile", help="LiteRT per-op profile of a .tflite bundle (ops timed one by one) -> <run>/report/profile.json"
    )
    add_run(pr)
    pr.add_argument("--bundle", help="bundle directory (default <run>/bundles/tflite_int8)")
    pr.add_argument("--min-seconds", type=positive, default=0.05, help="timed seconds per distinct op (default 0.05)")
    pr.set_defaults(func=cmd_profile)
    z = sub.add_parser(
        "zoo-report",
        help="every registered model down every deployment path: params, MACs, "
        "sizes, prune/QAT/PTQ-int8/ONNX status with reasons, LiteRT latency",
        description="Builds each registered model untrained on (32, 14) windows and runs each "
        "deployable network through TFLite fp32 / full-int8 and ONNX (parity in "
        "LiteRT / onnxruntime), tfmot pruning and QAT (one fine-tuning epoch on random "
        "windows), and times LiteRT at 1 thread. A failing path is recorded with its "
        "reason. Writes OUT/zoo.json and OUT/zoo.md; the full zoo takes tens of "
        "minutes (the EfficientNets convert slowly).",
    )
    z.add_argument("--out", default="artifacts/zoo", help="output folder (default artifacts/zoo)")
    z.add_argument("--models", help="comma-separated registered model names (default: all)")
    z.add_argument("--min-seconds", type=positive, default=0.5, help="timed seconds per latency cell (default 0.5)")
    z.add_argument(
        "--merge",
        nargs="+",
        metavar="ZOO_JSON",
        help="build nothing: combine zoo.json files of split runs into OUT (later files win per model)",
    )
    z.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="models built at once in worker processes (default 1; each worker imports TensorFlow, ~1 GB)",
    )
    z.set_defaults(func=cmd_zoo_report)


def cmd_export(args, group="export"):
    from prognos.export.formats import DEFAULTS
    from prognos.export.run import export_run, failed
    from prognos.pipeline.rul.runs import load_run

    formats = formats_of(args, DEFAULTS[group])
    from prognos.pipeline import tracking

    parity = export_run(load_run(args.run), formats, args.calibration, *tune_of(args))
    print(f"[prognos] parity report: {args.run}/parity.json")
    for name in formats:  # MLflow, when configured: each built bundle as an artifact
        if "error" not in parity[name]:
            tracking.log_bundle(parity[name]["bundle"], parity[name]["val"])
    bad = failed(parity, formats)
    sign_written(args, [Path(args.run) / "bundles" / f for f in formats if f not in bad])
    if bad:
        raise PrognosError(
            f"{len(bad)} of {len(formats)} formats failed (recorded in {args.run}/parity.json): "
            + "; ".join(f"{k}: {v}" for k, v in bad.items())
        )


def cmd_quantize(args):
    cmd_export(args, "quantize")


def cmd_optimize(args):
    from prognos.export.optimize import optimize_run
    from prognos.pipeline.rul.runs import load_run

    formats = args.formats.split(",") if args.formats else None
    tune_cfg, _ = tune_of(args)
    result = optimize_run(
        load_run(args.run),
        args.budget,
        args.prefer,
        formats,
        args.calibration,
        tune_cfg,
        args.min_seconds,
        args.reuse,
        args.target,
    )
    built = [r["format"] for r in result["rows"] if "error" not in r] + ["best"]
    sign_written(args, [Path(args.run) / "bundles" / f for f in built])
    print((Path(args.run) / "report" / "optimize.md").read_text())
    print(
        f"[prognos] chosen {result['chosen']} -> {args.run}/bundles/best; report in {args.run}/report/ "
        "(optimize.md, optimize.json, optimize.png, tune_*.json)"
    )


def cmd_formats(args):
    from prognos.export.formats import FORMATS

    for f in FORMATS:
        print(f"{f.name:24s} {f.group:9s} {f.suffix:8s} {f.doc}")


def cmd_profile(args):
    from prognos.export.profile import markdown_table, profile_bundle

    result = profile_bundle(
        args.bundle or Path(args.run) / "bundles" / "tflite_int8",
        Path(args.run) / "report" / "profile.json",
        args.min_seconds,
    )
    print(markdown_table(result))
    print(f"[prognos] wrote {args.run}/report/profile.json")


def cmd_zoo_report(args):
    from prognos.export.zoo import merge_reports, zoo_report

    if args.merge:
        merge_reports(args.merge, args.out)
    else:
        zoo_report(args.out, args.models.split(",") if args.models else None, args.min_seconds, args.jobs)
    print((Path(args.out) / "zoo.md").read_text())
    print(f"[prognos] wrote {args.out}/zoo.json and zoo.md")
