"""Vibration commands: bearing fault classification, anomaly detection, GAN augmentation, simulator."""

from __future__ import annotations

import json
from pathlib import Path

from prognos.edge_runtime.cli import count, positive
from prognos.pipeline.cli.common import config_from, hparams_of, int_list, str_list
from prognos.pipeline.cli.sign import add_sign_key, sign_written


def _add_run_config_data(p) -> None:
    """--run, --config and --data-dir, shared by the vibration training commands."""
    p.add_argument("--run", required=True, help="run folder")
    p.add_argument(
        "--config",
        help="TOML file: [vibration] (and [anomaly] / [gan]) tables with the keys of "
        "pipeline/vibration's config dataclasses; flags override it",
    )
    p.add_argument("--data-dir", help="folder of CWRU .mat files; omit to simulate one into RUN/data")


def register(sub) -> None:
    vb = sub.add_parser(
        "vibration",
        help="bearing fault classification (CWRU or simulator): train, confusion "
        "matrix, fp32 + int8 TFLite bundles of task 'classify'",
    )
    _add_run_config_data(vb)
    vb.add_argument("--model", help="registered model on spectrograms (default lenet)")
    vb.add_argument("--epochs", type=count, help="maximum epochs (default 30, early stopping)")
    vb.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 5)")
    vb.add_argument(
        "--warmup",
        type=int,
        help="epochs before early stopping may stop or pick the best weights "
        "(default 0; ~15 for MobileNet/EfficientNet, whose validation sits at chance while BN settles)",
    )
    vb.add_argument(
        "--hparam",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model builder argument, repeatable, e.g. --hparam alpha=0.25 (mobilenet_v1/v2) or "
        "--hparam base_width=0.25 (efficientnet_b0); values are read as JSON",
    )
    vb.add_argument(
        "--kind",
        choices=("spectrogram", "log_mel", "envelope_spectrum", "fft", "fault_orders"),
        help="model input computed by edge_runtime.dsp_spec (default spectrogram, (129, 29, 1)); "
        "fault_orders: envelope lines at the bearing's fault orders, transfers across bearings",
    )
    vb.add_argument(
        "--bearing",
        help="kind fault_orders: the data's bearing, a name (6205, 6203), a TOML file or "
        "FILE.toml:NAME (default 6205, the CWRU drive end)",
    )
    vb.add_argument(
        "--samples-per-rev",
        type=int,
        help="order-normalized input: angular resampling at this many "
        "samples per shaft revolution (from each file's RPM; the device needs --shaft-hz)",
    )
    vb.add_argument(
        "--classes",
        type=int,
        choices=(10, 4),
        help="10 (normal + 3 fault types x 3 sizes, default) or 4 (normal / inner / ball / outer race)",
    )
    vb.add_argument("--loads", help="motor loads in HP to read, comma-separated (default all)")
    vb.add_argument(
        "--test-loads", help="cross-load check: also score every window of these loads, e.g. --loads 0 --test-loads 1"
    )
    vb.add_argument("--sim-seconds", type=positive, help="simulator: seconds per fault recording (default 10)")
    vb.add_argument("--formats", help="bundle formats, comma-separated (default tflite_fp32,tflite_int8)")
    vb.add_argument("--seed", type=int)
    add_sign_key(vb)
    va = sub.add_parser(
        "vibration-anomaly",
        help="autoencoder on healthy windows only: false alarms, detection "
        "rate per fault class, AUC (pipeline side; no bundle yet)",
    )
    _add_run_config_data(va)
    va.add_argument(
        "--model",
        choices=("dense_ae", "vae"),
        help="dense autoencoder (default) or VAE; score = "
        "reconstruction MSE of the log-mel features (VAE: decoder of the posterior mean)",
    )
    va.add_argument("--epochs", type=count, help="maximum epochs (default 40)")
    va.add_argument(
        "--quantile",
        type=float,
        help="threshold = this quantile of held-out healthy scores (default 0.99: 1 %% false alarms expected)",
    )
    va.add_argument("--formats", help="anomaly bundle formats, comma-separated (default tflite_fp32,tflite_int8)")
    va.add_argument("--sim-seconds", type=positive, help="simulator: seconds per fault recording (default 10)")
    add_sign_key(va)
    vg = sub.add_parser(
        "vibration-gan",
        help="GAN augmentation experiment: classifier with few real windows of "
        "rare fault classes, without / oversampled / with conditional-GAN windows (same seed and split)",
    )
    _add_run_config_data(vg)
    vg.add_argument("--loads", help="motor loads in HP to read, comma-separated (default all)")
    vg.add_argument("--rare", help="rare classes, comma-separated (default B007,B014,B021)")
    vg.add_argument("--keep", type=float, help="fraction of the rare classes' training windows kept (default 0.05)")
    vg.add_argument("--gan-epochs", type=count, help="cGAN epochs (default 150)")
    vg.add_argument("--gan-steps", type=int, help="train the cGAN for only this many steps (smoke test)")
    vg.add_argument("--model", help="classifier of every arm (default lenet, on the (1024, 1) FFT spectrum)")
    vg.add_argument("--epochs", type=count, help="classifier maximum epochs (default 30, early stopping)")
    vg.add_argument("--sim-seconds", type=positive, help="simulator: seconds per fault recording (default 10)")
    vg.add_argument("--seed", type=int)
    vs = sub.add_parser("vibration-sim", help="write one simulated bearing recording as a 1-D .npy (raw g at 12 kHz)")
    vs.add_argument("--out", required=True, help="output .npy file")
    vs.add_argument("--class", dest="cls", default="IR014", help="one of the 10 CWRU classes (default IR014)")
    vs.add_argument("--load", type=int, default=0, help="motor load HP (default 0)")
    vs.add_argument("--seconds", type=positive, default=5.0)
    vs.add_argument("--seed", type=int, default=1, help="seed (default 1; training's simulator uses 0)")
    vs.add_argument(
        "--bearing", default="6205", help="bearing geometry: 6205 (default), 6203, a TOML file or FILE:NAME"
    )
    _add_transfer(sub)
    vb.set_defaults(func=cmd_vibration)
    va.set_defaults(func=cmd_vibration_anomaly)
    vg.set_defaults(func=cmd_vibration_gan)
    vs.set_defaults(func=cmd_vibration_sim)


def cmd_vibration(args):
    from prognos.pipeline.vibration.train import VibrationConfig, vibration_run

    args.loads, args.test_loads, args.formats = int_list(args.loads), int_list(args.test_loads), str_list(args.formats)
    args.hparams = hparams_of(args.hparam) or None
    cfg = config_from(
        VibrationConfig,
        args,
        "vibration",
        (
            "model",
            "epochs",
            "patience",
            "warmup",
            "classes",
            "kind",
            "samples_per_rev",
            "sim_seconds",
            "seed",
            "hparams",
            "loads",
            "test_loads",
            "formats",
            "bearing",
        ),
    )
    m = vibration_run(cfg, args.run, args.data_dir)
    sign_written(args, m["bundles"].values())
    print(
        json.dumps(
            {
                k: m[k]
                for k in (
                    "data",
                    "train_windows",
                    "val_windows",
                    "epochs_run",
                    "val_accuracy",
                    "agreement_with_keras",
                    "cross_load",
                    "bundles",
                )
                if k in m
            },
            indent=2,
        )
    )
    print(f"[prognos] artifacts in {args.run}/ (model.keras, metrics.json, confusion.png, bundles/)")


def cmd_vibration_anomaly(args):
    from prognos.pipeline.vibration.anomaly import AnomalyConfig, anomaly_run
    from prognos.pipeline.vibration.train import VibrationConfig

    args.formats = str_list(args.formats)
    cfg = config_from(AnomalyConfig, args, "anomaly", ("model", "epochs", "quantile", "formats"))
    cfg.__post_init__()
    vcfg = config_from(VibrationConfig, args, "vibration", ("sim_seconds",))
    m = anomaly_run(cfg, vcfg, args.run, args.data_dir)
    sign_written(args, [b["bundle"] for b in m["bundles"].values()])
    print(json.dumps({k: v for k, v in m.items() if k != "config"}, indent=2))
    print(f"[prognos] artifacts in {args.run}/ (anomaly_model.keras, anomaly_metrics.json, anomaly_bundles/)")


def cmd_vibration_gan(args):
    from prognos.pipeline.vibration.gan import GanConfig, gan_run
    from prognos.pipeline.vibration.train import VibrationConfig

    args.rare, args.loads = str_list(args.rare), int_list(args.loads)
    cfg = config_from(GanConfig, args, "gan", ("keep", "gan_epochs", "rare"))
    cfg.__post_init__()
    vcfg = config_from(VibrationConfig, args, "vibration", ("model", "epochs", "sim_seconds", "seed", "loads"))
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
    x = simulate_recording(fault, size, args.load, args.seconds, args.seed, bearing=args.bearing)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, x.astype(np.float32))
    print(f"[prognos] wrote {args.out}: {args.cls} at {args.load} HP, {len(x)} samples")


def _add_transfer(sub) -> None:
    vt = sub.add_parser(
        "vibration-transfer",
        help="train a 4-class fault_orders model on one bearing, score it on "
        "another (simulator), or on held-back fault sizes (--data-dir, CWRU drive end)",
    )
    vt.add_argument("--run", required=True, help="run folder (transfer.json, the runs, simulated data)")
    vt.add_argument("--config", help="TOML file with a [transfer] table (keys of TransferConfig); flags override it")
    vt.add_argument("--data-dir", help="folder of CWRU drive-end .mat files: hold back each fault size in turn")
    vt.add_argument("--train-bearing", help="simulator: bearing trained on (default 6205; name, TOML or FILE:NAME)")
    vt.add_argument("--test-bearing", help="simulator: bearing scored (default 6203)")
    vt.add_argument("--loads", help="motor loads in HP, comma-separated (default 0,1)")
    vt.add_argument("--sim-seconds", type=float, help="simulator: seconds per fault recording (default 10)")
    vt.add_argument("--window", type=int, help="raw samples per window (default 8192; hop a quarter of it)")
    vt.add_argument("--epochs", type=int, help="maximum epochs (default 40, early stopping)")
    vt.add_argument("--formats", help="bundle formats, comma-separated (default tflite_int8)")
    vt.add_argument(
        "--no-hz-control",
        dest="hz_control",
        action="store_false",
        default=None,
        help="skip the control that trains the same MLP on the Hz envelope spectrum",
    )
    vt.add_argument("--seed", type=int)
    vt.set_defaults(func=cmd_vibration_transfer)


def cmd_vibration_transfer(args):
    from prognos.pipeline.vibration.transfer import TransferConfig, transfer_run

    args.loads, args.formats = int_list(args.loads), str_list(args.formats)
    cfg = config_from(
        TransferConfig,
        args,
        "transfer",
        ("train_bearing", "test_bearing", "loads", "sim_seconds", "window", "epochs", "formats", "hz_control", "seed"),
    )
    if args.window is not None:
        cfg.hop = max(1, args.window // 4)
    r = transfer_run(cfg, args.run, args.data_dir)
    print(json.dumps({k: v for k, v in r.items() if k != "config"}, indent=2))
    print(f"[prognos] wrote {args.run}/transfer.json")
