"""`prognos`: simulate, train, compress, export, bench and evaluate predictive-maintenance models.

The main job on the embedded default (a simulated turbofan fleet, no download): `prognos demo`.
Real NASA C-MAPSS data: `--data-dir DIR` with train_FD001.txt (and test_FD001.txt) in it.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from functools import partial
from pathlib import Path

from prognos.edge_runtime.errors import DataError, PrognosError

# modules of this package that register subcommands: each has `register(subparsers)`; a parser it adds
# sets `func` (set_defaults), called with the parsed args. Keep imports inside the commands (--help is instant).
DOMAINS: tuple[str, ...] = ("mcu",)


def _add_run(p, required=False):
    p.add_argument("--run", required=required, default=None if required else "artifacts/demo",
                   help="run folder under which artifacts are written/read (default artifacts/demo)")


def _add_train(p):
    p.add_argument("--config", help="TOML run config (sections [data] [model] [train]); flags below override it")
    p.add_argument("--data-dir", help="folder with C-MAPSS train_<subset>.txt; omit to use the built-in simulator")
    p.add_argument("--subset", help="subset name when the folder holds several (e.g. FD001)")
    p.add_argument("--model", help="registered model name (default lstm)")
    p.add_argument("--epochs", type=int, help="maximum epochs (early stopping on validation loss)")
    p.add_argument("--seed", type=int, help="seed for split, initialization and simulator")
    p.add_argument("--strategy", choices=("auto", "default", "mirrored", "multiworker"),
                   help="tf.distribute strategy (default auto: TF_CONFIG cluster -> multiworker, "
                        ">1 GPU -> mirrored, else one device)")
    p.add_argument("--precision", choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
                   help="dtype policy (default auto: mixed_float16 on GPU, float32 on CPU)")
    p.add_argument("--jit-compile", action="store_true", default=None, help="compile train steps with XLA")


def _add_export(p):
    _add_run(p)
    p.add_argument("--formats", "--variant", dest="formats",
                   help="comma-separated variants from the export table (see `prognos formats`)")
    p.add_argument("--calibration", type=int, default=256, help="int8 calibration windows (default 256)")
    p.add_argument("--tune-epochs", type=int, help="fine-tuning epochs of prune / cluster / QAT steps (default 4)")
    p.add_argument("--sparsity", type=float, help="override the table's target sparsity of pruning steps")
    p.add_argument("--schedule", choices=("polynomial", "constant"), help="override the pruning schedule")
    p.add_argument("--clusters", type=int, help="override the table's number of clusters per kernel")


def _add_bench(b):
    b.add_argument("--run", action="append", help="run folder to bench (repeatable; default artifacts/demo); "
                   "a run without model.keras is produced first by the demo pipeline")
    b.add_argument("--models", help="comma-separated registered models: benches artifacts/demo-<model> each "
                                    "(produced by the demo pipeline when missing)")
    b.add_argument("--formats", help="comma-separated: keras and bundle names (default keras, TFLite fp32, "
                                     "fp16, dynamic, int8, ONNX fp32, int8); 'all' = every bundle of the run")
    b.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    b.add_argument("--min-seconds", type=float, default=1.0, help="minimum timed seconds per latency (default 1)")
    b.add_argument("--out", help="folder for the combined table of several runs (default artifacts/bench)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prognos", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="write a simulated turbofan fleet in the C-MAPSS text format")
    s.add_argument("--out", default="artifacts/sim-data", help="output folder (default artifacts/sim-data)")
    s.add_argument("--units", type=int, default=100, help="training and test units each (default 100)")
    s.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("train", help="train a model; writes model.keras, metrics, plots into --run")
    _add_run(t)
    _add_train(t)
    from prognos.export.formats import GROUPS

    for name, what in GROUPS.items():
        _add_export(sub.add_parser(name, help=f"convert a trained run to {what} bundles, with a parity check"))
    o = sub.add_parser("optimize", help="build every variant, keep the fastest (or smallest) one within an RMSE "
                                        "budget as bundles/best; trade-off table and plot in report/")
    _add_export(o)
    o.add_argument("--budget", type=float, required=True, help="allowed validation RMSE above the Keras model [cycles]")
    o.add_argument("--prefer", choices=("fastest", "smallest"), default="fastest",
                   help="fastest: lowest single-window latency; smallest: lowest gzip size (default fastest)")
    o.add_argument("--min-seconds", type=float, default=1.0, help="timed seconds per candidate (default 1)")
    o.add_argument("--reuse", action="store_true", help="keep verified bundles newer than model.keras (no rebuild)")
    o.add_argument("--target", help="microcontroller (export.targets: cortex-m4, cortex-m7, esp32-s3): choose only "
                                    "among the variants whose TFLM arena + buffers and model fit it")
    sub.add_parser("formats", help="list the export table")
    pr = sub.add_parser("profile", help="LiteRT per-op profile of a .tflite bundle (ops timed one by one) -> "
                                        "<run>/report/profile.json")
    _add_run(pr)
    pr.add_argument("--bundle", help="bundle directory (default <run>/bundles/tflite_int8)")
    pr.add_argument("--min-seconds", type=float, default=0.05, help="timed seconds per distinct op (default 0.05)")
    rp = sub.add_parser("report", help="self-contained HTML report of a run (plots, benchmark, op profile, model "
                                       "card) -> <run>/report/index.html; makes the run (demo pipeline) and the "
                                       "op profile first if missing")
    _add_run(rp)
    _add_bench(sub.add_parser("bench", help="the benchmark matrix: models x formats x threads; latency, "
                                            "throughput, RSS, size, RMSE, ratios, physical bound"))
    v = sub.add_parser("evaluate", help="last-window RUL of test units from a bundle or a run; RMSE with --rul")
    v.add_argument("--test", required=True, help="C-MAPSS test file (e.g. test_FD001.txt)")
    v.add_argument("--rul", help="true RUL file, one integer per line in unit order")
    v.add_argument("--bundle", help="bundle directory")
    v.add_argument("--run", help="training run folder (evaluates its Keras model)")
    c = sub.add_parser("cv", help="k-fold cross-validation by engine unit; writes cv.json and plots into --run")
    _add_run(c)
    _add_train(c)
    c.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    se = sub.add_parser("search", help="cross-validate several TOML configs and rank them by CV RMSE")
    se.add_argument("configs", nargs="+", help="candidate TOML configs (e.g. configs/search/*.toml)")
    se.add_argument("--out", default="artifacts/search", help="output folder (default artifacts/search)")
    se.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    se.add_argument("--data-dir", help="override every candidate's data folder")
    se.add_argument("--epochs", type=int, help="override every candidate's maximum epochs (quick searches)")
    se.add_argument("--split-seed", type=int, help="override every candidate's data.seed: another split into "
                    "folds and other test-protocol cuts, to check a choice on folds it was not selected on")
    en = sub.add_parser("ensemble", help="CV score of averaging search candidates' out-of-fold predictions")
    en.add_argument("cv_dirs", nargs="+", help="candidate folders with cv.json and oof.npz (same folds)")
    en.add_argument("--out", help="also write the summary to this JSON file")
    fi = sub.add_parser("final", help="retrain chosen CV candidate(s) on every training unit (median best epoch), "
                                      "export, interval from out-of-fold residuals; final.json")
    fi.add_argument("cv_dirs", nargs="+", help="candidate folders with cv.json and oof.npz; several: one averaged "
                                               "ensemble model")
    _add_run(fi, required=True)
    fi.add_argument("--formats", help="export-table variants to build (default tflite_fp32,tflite_int8_fused: "
                                      "the fused int8 LSTM is the small one; a GRU has no fused op and its int8 "
                                      "calibration crashes the converter, use tflite_int8 (unrolled) for it)")
    d = sub.add_parser("demo", help="simulate -> train -> quantize -> export -> bench, on the embedded default")
    _add_run(d)
    _add_train(d)
    sc = sub.add_parser("scale", help="stream a simulated fleet through the tf.data pipeline: windows/s, peak RSS")
    sc.add_argument("--units", type=int, default=10000, help="simulated engines (default 10000)")
    sc.add_argument("--batch", type=int, default=1024, help="windows per batch (default 1024)")
    sc.add_argument("--epochs", type=int, default=3, help="passes over the windows (default 3; median reported)")
    sc.add_argument("--fit-steps", type=int, default=0, help="also time this many training steps of --model")
    sc.add_argument("--model", default="lstm", help="model for --fit-steps (default lstm)")
    sc.add_argument("--seed", type=int, default=0)
    z = sub.add_parser("zoo-report", help="every registered model down every deployment path: params, MACs, "
                                          "sizes, prune/QAT/PTQ-int8/ONNX status with reasons, LiteRT latency",
                       description="Builds each registered model untrained on (32, 14) windows and runs each "
                                   "deployable network through TFLite fp32 / full-int8 and ONNX (parity in "
                                   "LiteRT / onnxruntime), tfmot pruning and QAT (one fine-tuning epoch on random "
                                   "windows), and times LiteRT at 1 thread. A failing path is recorded with its "
                                   "reason. Writes OUT/zoo.json and OUT/zoo.md; the full zoo takes tens of "
                                   "minutes (the EfficientNets convert slowly).")
    z.add_argument("--out", default="artifacts/zoo", help="output folder (default artifacts/zoo)")
    z.add_argument("--models", help="comma-separated registered model names (default: all)")
    z.add_argument("--min-seconds", type=float, default=0.5, help="timed seconds per latency cell (default 0.5)")
    z.add_argument("--merge", nargs="+", metavar="ZOO_JSON", help="build nothing: combine zoo.json files of "
                                                                   "split runs into OUT (later files win per model)")
    z.add_argument("--jobs", type=int, default=1, help="models built at once in worker processes (default 1; "
                                                       "each worker imports TensorFlow, ~1 GB)")
    _add_vibration(sub)
    for name in DOMAINS:  # one module per domain adds its subcommands (each sets `func`)
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return p


def _add_vibration(sub) -> None:
    vb = sub.add_parser("vibration", help="bearing fault classification (CWRU or simulator): train, confusion "
                                          "matrix, fp32 + int8 TFLite bundles of task 'classify'")
    vb.add_argument("--run", required=True, help="run folder")
    vb.add_argument("--data-dir", help="folder of CWRU .mat files; omit to simulate one into RUN/data")
    vb.add_argument("--model", help="registered model on spectrograms (default lenet)")
    vb.add_argument("--epochs", type=int, help="maximum epochs (default 30, early stopping)")
    vb.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 5)")
    vb.add_argument("--warmup", type=int, help="epochs before early stopping may stop or pick the best weights "
                    "(default 0; ~15 for MobileNet/EfficientNet, whose validation sits at chance while BN settles)")
    vb.add_argument("--hparam", action="append", default=[], metavar="KEY=VALUE",
                    help="model builder argument, repeatable, e.g. --hparam alpha=0.25 (mobilenet_v1/v2) or "
                         "--hparam base_width=0.25 (efficientnet_b0); values are read as JSON")
    vb.add_argument("--kind", choices=("spectrogram", "log_mel", "envelope_spectrum", "fft"),
                    help="model input computed by edge_runtime.dsp_spec (default spectrogram, (129, 29, 1))")
    vb.add_argument("--samples-per-rev", type=int, help="order-normalized input: angular resampling at this many "
                    "samples per shaft revolution (from each file's RPM; the device needs --shaft-hz)")
    vb.add_argument("--classes", type=int, choices=(10, 4),
                    help="10 (normal + 3 fault types x 3 sizes, default) or 4 (normal / inner / ball / outer race)")
    vb.add_argument("--loads", help="motor loads in HP to read, comma-separated (default all)")
    vb.add_argument("--test-loads", help="cross-load check: also score every window of these loads, e.g. "
                                         "--loads 0 --test-loads 1")
    vb.add_argument("--sim-seconds", type=float, help="simulator: seconds per fault recording (default 10)")
    vb.add_argument("--formats", help="bundle formats, comma-separated (default tflite_fp32,tflite_int8)")
    vb.add_argument("--seed", type=int)
    va = sub.add_parser("vibration-anomaly", help="autoencoder on healthy windows only: false alarms, detection "
                                                   "rate per fault class, AUC (pipeline side; no bundle yet)")
    va.add_argument("--run", required=True, help="run folder")
    va.add_argument("--data-dir", help="folder of CWRU .mat files; omit to simulate one into RUN/data")
    va.add_argument("--model", choices=("dense_ae", "vae"), help="dense autoencoder (default) or VAE; score = "
                    "reconstruction MSE of the log-mel features (VAE: decoder of the posterior mean)")
    va.add_argument("--epochs", type=int, help="maximum epochs (default 40)")
    va.add_argument("--quantile", type=float, help="threshold = this quantile of held-out healthy scores "
                    "(default 0.99: 1 %% false alarms expected)")
    va.add_argument("--formats", help="anomaly bundle formats, comma-separated (default tflite_fp32,tflite_int8)")
    va.add_argument("--sim-seconds", type=float, help="simulator: seconds per fault recording (default 10)")
    vg = sub.add_parser("vibration-gan", help="GAN augmentation experiment: classifier with few real windows of "
                        "rare fault classes, without / oversampled / with conditional-GAN windows (same seed and split)")
    vg.add_argument("--run", required=True, help="run folder")
    vg.add_argument("--data-dir", help="folder of CWRU .mat files; omit to simulate one into RUN/data")
    vg.add_argument("--loads", help="motor loads in HP to read, comma-separated (default all)")
    vg.add_argument("--rare", help="rare classes, comma-separated (default B007,B014,B021)")
    vg.add_argument("--keep", type=float, help="fraction of the rare classes' training windows kept (default 0.05)")
    vg.add_argument("--gan-epochs", type=int, help="cGAN epochs (default 150)")
    vg.add_argument("--gan-steps", type=int, help="train the cGAN for only this many steps (smoke test)")
    vg.add_argument("--model", help="classifier of every arm (default lenet, on the (1024, 1) FFT spectrum)")
    vg.add_argument("--epochs", type=int, help="classifier maximum epochs (default 30, early stopping)")
    vg.add_argument("--sim-seconds", type=float, help="simulator: seconds per fault recording (default 10)")
    vg.add_argument("--seed", type=int)
    vs = sub.add_parser("vibration-sim", help="write one simulated bearing recording as a 1-D .npy (raw g at 12 kHz)")
    vs.add_argument("--out", required=True, help="output .npy file")
    vs.add_argument("--class", dest="cls", default="IR014", help="one of the 10 CWRU classes (default IR014)")
    vs.add_argument("--load", type=int, default=0, help="motor load HP (default 0)")
    vs.add_argument("--seconds", type=float, default=5.0)
    vs.add_argument("--seed", type=int, default=1, help="seed (default 1; training's simulator uses 0)")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        (getattr(args, "func", None) or COMMANDS[args.command])(args)
    except PrognosError as e:
        print(f"prognos: error: {e}", file=sys.stderr)
        return 2
    return 0


def _config(args):
    from prognos.pipeline.config import RunConfig

    cfg = RunConfig.load(args.config) if args.config else RunConfig()
    for value, section, key in ((args.data_dir, cfg.data, "data_dir"), (args.subset, cfg.data, "subset"),
                                (args.model, cfg.model, "name"), (args.epochs, cfg.train, "epochs"),
                                (args.seed, cfg.data, "seed"), (args.seed, cfg.train, "seed"),
                                (args.strategy, cfg.train, "strategy"), (args.precision, cfg.train, "precision"),
                                (args.jit_compile, cfg.train, "jit_compile")):
        if value is not None:
            setattr(section, key, value)
    return cfg


def cmd_simulate(args):
    from prognos.pipeline.data.simulate import write_dataset

    out = write_dataset(args.out, args.units, args.units, args.seed)
    print(f"[prognos] wrote {out}/train_SIM.txt, test_SIM.txt, RUL_SIM.txt")


def cmd_train(args):
    from prognos.pipeline.scale.distribute import artifact_dir
    from prognos.pipeline.rul.train import train_run

    metrics = train_run(_config(args), args.run)
    print(json.dumps(metrics, indent=2))
    print(f"[prognos] artifacts in {artifact_dir(args.run)}/ (model.keras, metrics.json, learning_curve.png, "
          "rul_validation.png)")


def _formats(args, default):
    return args.formats.split(",") if getattr(args, "formats", None) else default


def _tune(args):
    """(TuneConfig, overrides of the table's tune parameters) from the CLI flags."""
    from prognos.export.finetune import TuneConfig

    cfg = TuneConfig() if getattr(args, "tune_epochs", None) is None else TuneConfig(epochs=args.tune_epochs)
    overrides = {k: getattr(args, k, None) for k in ("sparsity", "schedule", "clusters")}
    return cfg, {k: v for k, v in overrides.items() if v is not None}


def cmd_export(args, group="export"):
    from prognos.export.formats import DEFAULTS
    from prognos.export.run import export_run, failed
    from prognos.pipeline.rul.runs import load_run

    formats = _formats(args, DEFAULTS[group])
    parity = export_run(load_run(args.run), formats, args.calibration, *_tune(args))
    print(f"[prognos] parity report: {args.run}/parity.json")
    bad = failed(parity, formats)
    if bad:
        raise PrognosError(f"{len(bad)} of {len(formats)} formats failed (recorded in {args.run}/parity.json): "
                           + "; ".join(f"{k}: {v}" for k, v in bad.items()))


def cmd_quantize(args):
    cmd_export(args, "quantize")


def cmd_optimize(args):
    from prognos.export.optimize import optimize_run
    from prognos.pipeline.rul.runs import load_run

    formats = args.formats.split(",") if args.formats else None
    tune_cfg, _ = _tune(args)
    result = optimize_run(load_run(args.run), args.budget, args.prefer, formats, args.calibration, tune_cfg, args.min_seconds,
                          args.reuse, args.target)
    print((Path(args.run) / "report" / "optimize.md").read_text())
    print(f"[prognos] chosen {result['chosen']} -> {args.run}/bundles/best; report in {args.run}/report/ "
          "(optimize.md, optimize.json, optimize.png, tune_*.json)")


def cmd_formats(args):
    from prognos.export.formats import FORMATS

    for f in FORMATS:
        print(f"{f.name:24s} {f.group:9s} {f.suffix:8s} {f.doc}")


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
            raise DataError(f"{run}: no model.keras; expected a trained run (make train RUN={run}), or omit "
                            f"--run for the embedded demo")
        print(f"[prognos] {run} has no model.keras: producing it with the demo pipeline first", flush=True)
        _produce(_parser().parse_args(["demo", "--run", run, *(["--model", model] if model else [])]))


def cmd_bench(args):
    from prognos.export.bench import DEFAULT_FORMATS, bench_runs

    runs = _bench_runs(args)
    formats = args.formats.split(",") if args.formats else DEFAULT_FORMATS
    if formats == ["all"]:
        formats = ["keras"] + sorted({p.name for r in runs for p in (Path(r) / "bundles").glob("*/")
                                      if (p / "manifest.json").is_file()})
    threads = [int(t) for t in args.threads.split(",")]
    from prognos.pipeline.rul.runs import load_run

    result = bench_runs(runs, load_run, formats, threads, args.min_seconds, out=args.out and Path(args.out))
    from prognos.export.bench_table import markdown_table

    print(markdown_table(result))


def cmd_profile(args):
    from prognos.export.profile import markdown_table, profile_bundle

    result = profile_bundle(args.bundle or Path(args.run) / "bundles" / "tflite_int8",
                            Path(args.run) / "report" / "profile.json", args.min_seconds)
    print(markdown_table(result))
    print(f"[prognos] wrote {args.run}/report/profile.json")


def cmd_report(args):
    from prognos.pipeline.report.html import build_report

    if Path(args.run) == Path("artifacts/demo"):  # the embedded default is made on demand; other runs must exist
        _ensure_run(args.run)
    bundle = Path(args.run) / "bundles" / "tflite_int8"
    if not (Path(args.run) / "report" / "profile.json").is_file() and bundle.is_dir():
        cmd_profile(argparse.Namespace(run=args.run, bundle=bundle, min_seconds=0.05))
    print(f"[prognos] wrote {build_report(args.run)}")


def cmd_evaluate(args):
    from prognos.pipeline.rul.evaluate import evaluate

    print(json.dumps(evaluate(args.test, args.rul, args.bundle, args.run), indent=2))


def cmd_cv(args):
    from prognos.pipeline.rul.cv import cross_validate

    summary = cross_validate(_config(args), args.run, args.folds)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))
    print(f"[prognos] wrote {args.run}/cv.json, cv_rul_per_engine.png, cv_error_histogram.png, cv_folds.png")


def cmd_search(args):
    from prognos.pipeline.rul.search import run_search

    run_search(args.configs, args.out, args.folds, args.data_dir, args.epochs, args.split_seed)
    print((Path(args.out) / "search.md").read_text())


def cmd_scale(args):
    from prognos.pipeline.scale.throughput import scale_run

    print(json.dumps(scale_run(args.units, args.batch, args.seed, args.fit_steps, args.model, args.epochs), indent=2))


def cmd_ensemble(args):
    from prognos.pipeline.rul.ensemble import score_ensemble

    summary = score_ensemble(args.cv_dirs)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: summary[k] for k in ("members", "params", "member_test_rmse", "member_rmse", "rmse_mean",
                                              "rmse_std", "coverage_mean", "test_protocol")}, indent=2))
    t = summary["test_protocol"]
    print(f"[prognos] average of {len(args.cv_dirs)}: CV RMSE {t['rmse_mean']:.2f} ± {t['rmse_std']:.2f} test protocol "
          f"(NASA {t['score_per_100_engines_mean']:.0f} / 100 engines), {summary['rmse_mean']:.2f} ± "
          f"{summary['rmse_std']:.2f} all windows; 90 % interval coverage {summary['coverage_mean']:.3f} / "
          f"{t['coverage_mean']:.3f}", file=sys.stderr)


def cmd_final(args):
    from prognos.pipeline.rul.final import FORMATS, final_run

    result = final_run(args.cv_dirs, args.run, args.formats.split(",") if args.formats else FORMATS)
    print(json.dumps(result, indent=2))
    print(f"[prognos] wrote {args.run}/final.json, model.keras and bundles/")


def _produce(args):
    """The demo pipeline up to the bundles: train, quantize, export."""
    cmd_train(args)
    args.formats, args.calibration = None, 256
    cmd_quantize(args)
    cmd_export(args)


def cmd_demo(args):
    t0 = time.time()
    _produce(args)
    cmd_bench(argparse.Namespace(run=[args.run], models=None, formats=None, threads="1", min_seconds=0.5, out=None))
    print(f"[prognos] demo finished in {time.time() - t0:.0f} s. Try the edge runtime on the simulated test fleet:\n"
          f"  .venv/bin/prognos-edge predict --bundle {args.run}/bundles/tflite_int8 "
          f"--input {args.run}/data/test_SIM.txt | tail -3")


def _hparams(pairs) -> dict:
    """--hparam KEY=VALUE flags -> {key: value}, values parsed as JSON (a bare word stays a string)."""
    from prognos.edge_runtime.errors import ConfigError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--hparam {pair!r}; expected KEY=VALUE, e.g. alpha=0.25")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def cmd_zoo_report(args):
    from prognos.export.zoo import merge_reports, zoo_report

    if args.merge:
        merge_reports(args.merge, args.out)
    else:
        zoo_report(args.out, args.models.split(",") if args.models else None, args.min_seconds, args.jobs)
    print((Path(args.out) / "zoo.md").read_text())
    print(f"[prognos] wrote {args.out}/zoo.json and zoo.md")


def cmd_vibration(args):
    from prognos.pipeline.vibration.train import VibrationConfig, vibration_run

    cfg = VibrationConfig()
    for key in ("model", "epochs", "patience", "warmup", "classes", "kind", "samples_per_rev", "sim_seconds", "seed"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    cfg.hparams = _hparams(args.hparam)
    if args.loads:
        cfg.loads = [int(v) for v in args.loads.split(",")]
    if args.test_loads:
        cfg.test_loads = [int(v) for v in args.test_loads.split(",")]
    if args.formats:
        cfg.formats = args.formats.split(",")
    m = vibration_run(cfg, args.run, args.data_dir)
    print(json.dumps({k: m[k] for k in ("data", "train_windows", "val_windows", "epochs_run", "val_accuracy",
                                        "agreement_with_keras", "cross_load", "bundles") if k in m}, indent=2))
    print(f"[prognos] artifacts in {args.run}/ (model.keras, metrics.json, confusion.png, bundles/)")


def cmd_vibration_anomaly(args):
    from prognos.pipeline.vibration.train import VibrationConfig
    from prognos.pipeline.vibration.anomaly import AnomalyConfig, anomaly_run

    cfg, vcfg = AnomalyConfig(), VibrationConfig()
    for key in ("model", "epochs", "quantile"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    if args.formats:
        cfg.formats = args.formats.split(",")
    cfg.__post_init__()
    if args.sim_seconds is not None:
        vcfg.sim_seconds = args.sim_seconds
    m = anomaly_run(cfg, vcfg, args.run, args.data_dir)
    print(json.dumps({k: v for k, v in m.items() if k != "config"}, indent=2))
    print(f"[prognos] artifacts in {args.run}/ (anomaly_model.keras, anomaly_metrics.json, anomaly_bundles/)")


def cmd_vibration_gan(args):
    from prognos.pipeline.vibration.train import VibrationConfig
    from prognos.pipeline.vibration.gan import GanConfig, gan_run

    cfg, vcfg = GanConfig(), VibrationConfig()
    for key in ("keep", "gan_epochs"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    if args.rare:
        cfg.rare = args.rare.split(",")
    cfg.__post_init__()
    for key in ("model", "epochs", "sim_seconds", "seed"):
        if getattr(args, key) is not None:
            setattr(vcfg, key, getattr(args, key))
    if args.loads:
        vcfg.loads = [int(v) for v in args.loads.split(",")]
    m = gan_run(cfg, vcfg, args.run, args.data_dir, args.gan_steps)
    print(json.dumps({k: m[k] for k in ("data", "rare", "train_windows", "gan_final", "arms")}, indent=2))
    print(f"[prognos] metrics in {args.run}/gan_metrics.json")


def cmd_vibration_sim(args):
    import numpy as np

    from prognos.edge_runtime.errors import ConfigError
    from prognos.pipeline.data.bearing_sim import FAULT_MODEL, simulate_recording
    from prognos.pipeline.data.cwru import CLASSES_10

    if args.cls not in CLASSES_10:
        raise ConfigError(f"--class {args.cls!r}; expected one of {', '.join(CLASSES_10)}")
    fault = "normal" if args.cls == "normal" else next(f for f, m in FAULT_MODEL.items() if args.cls.startswith(m[0]))
    size = 0 if args.cls == "normal" else int(args.cls[-3:])
    x = simulate_recording(fault, size, args.load, args.seconds, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, x.astype(np.float32))
    print(f"[prognos] wrote {args.out}: {args.cls} at {args.load} HP, {len(x)} samples")


COMMANDS = {"simulate": cmd_simulate, "train": cmd_train, "export": cmd_export, "quantize": cmd_quantize,
            "prune": partial(cmd_export, group="prune"), "cluster": partial(cmd_export, group="cluster"),
            "qat": partial(cmd_export, group="qat"), "optimize": cmd_optimize, "formats": cmd_formats,
            "bench": cmd_bench, "profile": cmd_profile, "report": cmd_report, "evaluate": cmd_evaluate, "cv": cmd_cv, "search": cmd_search, "demo": cmd_demo,
            "ensemble": cmd_ensemble, "final": cmd_final,
            "scale": cmd_scale, "zoo-report": cmd_zoo_report,
            "vibration": cmd_vibration, "vibration-sim": cmd_vibration_sim,
            "vibration-anomaly": cmd_vibration_anomaly, "vibration-gan": cmd_vibration_gan}

if __name__ == "__main__":
    sys.exit(main())
