"""The embedded default end to end (demo), and the commands that measure or report a run
(bench, report), which produce the demo run first when it is missing."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from prognos.edge_runtime.cli import positive
from prognos.edge_runtime.errors import DataError
from prognos.pipeline.cli.common import add_run, add_train
from prognos.pipeline.cli.compress import cmd_export, cmd_profile, cmd_quantize
from prognos.pipeline.cli.training import cmd_train


def _bench_runs(args) -> list[str]:
    """The run folders to bench, each produced by the demo pipeline first if it has no model.keras."""
    pairs = [(f"artifacts/demo-{m}", m) for m in args.models.split(",")] if args.models else []
    pairs += [(r, None) for r in (args.run or ([] if pairs else ["artifacts/demo"]))]
    for run, model in pairs:
        _ensure_run(run, model)
    return [run for run, _ in pairs]


def _ensure_run(run: str, model: str | None = None) -> None:
    """Produce a demo run (artifacts/demo, or artifacts/demo-<model>) with the demo pipeline (train,
    quantize, export) when it has no model.keras; any other run must exist."""
    if not (Path(run) / "model.keras").is_file():
        if Path(run) != Path("artifacts") / (f"demo-{model}" if model else "demo"):
            raise DataError(
                f"{run}: no model.keras; expected a trained run (make train RUN={run}), or omit "
                f"--run for the embedded demo"
            )
        print(f"[prognos] {run} has no model.keras: producing it with the demo pipeline first", flush=True)
        p = argparse.ArgumentParser()
        add_run(p)
        add_train(p)
        _produce(p.parse_args(["--run", run, *(["--model", model] if model else [])]))


def _produce(args):
    """The demo pipeline up to the bundles: train, quantize, export, then the fastest bundle on this
    machine within 0.3 RMSE of the Keras model installed as bundles/best (edge_runtime.choose)."""
    from prognos.edge_runtime.choose import choose, summary

    cmd_train(args)
    args.formats, args.calibration = None, 256
    cmd_quantize(args)
    cmd_export(args)
    print(summary(choose(Path(args.run) / "bundles", seconds=2.0)), flush=True)


def add_bench(b):
    b.add_argument(
        "--run",
        action="append",
        help="run folder to bench (repeatable; default artifacts/demo); "
        "a run without model.keras is produced first by the demo pipeline",
    )
    b.add_argument(
        "--models",
        help="comma-separated registered models: benches artifacts/demo-<model> each "
        "(produced by the demo pipeline when missing)",
    )
    b.add_argument(
        "--formats",
        help="comma-separated: keras and bundle names (default keras, TFLite fp32, "
        "fp16, dynamic, int8, ONNX fp32, int8); 'all' = every bundle of the run",
    )
    b.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    b.add_argument("--min-seconds", type=positive, default=1.0, help="minimum timed seconds per latency (default 1)")
    b.add_argument("--out", help="folder for the combined table of several runs (default artifacts/bench)")


def register(sub) -> None:
    d = sub.add_parser("demo", help="simulate -> train -> quantize -> export -> bench, on the embedded default")
    add_run(d)
    add_train(d)
    d.set_defaults(func=cmd_demo)
    b = sub.add_parser(
        "bench",
        help="the benchmark matrix: models x formats x threads; latency, throughput, RSS, size, RMSE, ratios, "
        "physical bound",
    )
    add_bench(b)
    b.set_defaults(func=cmd_bench)
    rp = sub.add_parser(
        "report",
        help="self-contained HTML report of a run (plots, benchmark, op profile, model "
        "card) -> <run>/report/index.html; makes the run (demo pipeline) and the "
        "op profile first if missing",
    )
    add_run(rp)
    rp.set_defaults(func=cmd_report)


def cmd_demo(args):
    t0 = time.time()
    _produce(args)
    cmd_bench(argparse.Namespace(run=[args.run], models=None, formats=None, threads="1", min_seconds=0.5, out=None))
    print(
        f"[prognos] demo finished in {time.time() - t0:.0f} s. Try the edge runtime on the simulated test fleet:\n"
        f"  .venv/bin/prognos-edge predict --bundle {args.run}/bundles/best "
        f"--input {args.run}/data/test_SIM.txt | tail -3"
    )


def cmd_bench(args):
    from prognos.export.bench import DEFAULT_FORMATS, bench_runs

    runs = _bench_runs(args)
    formats = args.formats.split(",") if args.formats else DEFAULT_FORMATS
    if formats == ["all"]:
        formats = ["keras"] + sorted(
            {p.name for r in runs for p in (Path(r) / "bundles").glob("*/") if (p / "manifest.json").is_file()}
        )
    threads = [int(t) for t in args.threads.split(",")]
    from prognos.pipeline.rul.runs import load_run

    result = bench_runs(runs, load_run, formats, threads, args.min_seconds, out=args.out and Path(args.out))
    from prognos.export.bench_table import markdown_table

    print(markdown_table(result))


def cmd_report(args):
    from prognos.pipeline.report.html import build_report

    if Path(args.run) == Path("artifacts/demo"):  # the embedded default is made on demand; other runs must exist
        _ensure_run(args.run)
    bundle = Path(args.run) / "bundles" / "tflite_int8"
    if not (Path(args.run) / "report" / "profile.json").is_file() and bundle.is_dir():
        cmd_profile(argparse.Namespace(run=args.run, bundle=bundle, min_seconds=0.05))
    print(f"[prognos] wrote {build_report(args.run)}")
