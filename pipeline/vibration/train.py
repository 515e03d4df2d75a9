"""Vibration use case: 10-class (or 4-class) bearing fault classification on CWRU data (or the simulator).

    .mat recordings ─► cwru.split_windows (time segment per recording, gap of one window)
        ─► dsp_spec.apply (the numpy DSP the device runs; normalization fitted on training windows;
           optionally order-normalized: angular resampling by each recording's shaft speed; or
           kind fault_orders: envelope lines at the bearing's fault orders, edge_runtime.orders)
        ─► registry model, task "classify" (LeNet, MobileNet, EfficientNet, ...; early stopping on
           validation loss after `warmup` epochs)
        ─► fp32 / full-int8 TFLite (+ ONNX) bundles, task "classify", DspSpec in the manifest
        ─► accuracy of every bundle in its runtime (LiteRT / onnxruntime) next to Keras

Writes into the run folder: model.keras, dsp_spec.json, metrics.json, confusion.png, val_predictions.npz (Keras
class probabilities and labels of the validation windows, for the report's ROC), bundles/<fmt>/.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from prognos.edge_runtime.bearings import get_bearing
from prognos.edge_runtime.dsp_spec import VECTOR_KINDS, DspSpec, apply_many, fit_normalization, input_shape, windows
from prognos.edge_runtime.orders import OrderSpec, describe
from prognos.edge_runtime.errors import ConfigError
from prognos.pipeline.data.cwru import CLASSES_10, FAULTS, load_folder, split_windows

LABELS = {10: ("label10", CLASSES_10), 4: ("label4", FAULTS)}  # --classes -> (CwruLabel attribute, names)


def class_names(cfg) -> tuple:
    """The class names of a run: CLASSES_10 or the 4 fault types of pipeline.cwru.FAULTS."""
    if cfg.classes not in LABELS:
        raise ConfigError(f"classes must be one of {sorted(LABELS)}, got {cfg.classes!r}")
    return LABELS[cfg.classes][1]


@dataclass
class VibrationConfig:
    """One vibration run; defaults suit 12 kHz CWRU drive-end data on a laptop CPU."""

    model: str = ""  # "" = lenet (small CNN on (129, 29, 1) log-spectrograms: ~230k parameters), or mlp on the
    # feature-vector kinds (time_features, fault_orders)
    hparams: dict = field(default_factory=dict)  # builder arguments, e.g. {"alpha": 0.25} for a MobileNet
    classes: int = 10  # 10 (normal + 3 fault types x 3 sizes) or 4 (normal / inner / ball / outer race)
    kind: str = "spectrogram"  # DspSpec.kind
    bearing: str = "6205"  # the data's bearing (name, TOML file or FILE.toml:NAME): read by kind fault_orders,
    # simulated when there is no data_dir; 6205 = CWRU drive end
    norm: str = "per_bin"  # z-score per frequency bin, fitted on training windows only
    window: int = 2048  # 0.17 s at 12 kHz, ~5 shaft revolutions
    hop: int = 1024  # 50 % overlap between training windows
    order_window: int = 8192  # kind fault_orders: 0.68 s, 1.5 Hz envelope bins (BPFO apart from BPFI - 2x sidebands)
    order_hop: int = 2048  # kind fault_orders: 75 % overlap
    order_prewhiten: bool = False  # kind fault_orders: cepstral pre-whitening before the envelope (OrderSpec)
    order_summary: str = "lines"  # kind fault_orders: "lines" (32 readings), "families" (8), "lines+families"
    samples_per_rev: int = 0  # > 0: order-normalized features (angular resampling by the recording's shaft speed)
    order_samples: int = 1920  # after angular resampling: 4.8 revolutions at 400/rev; a 2048 window holds 4.92 at 3 HP
    train_fraction: float = 0.8  # first 80 % of each recording trains, the rest (after a gap) validates
    loads: list | None = None  # motor loads (HP) to read; None = all in the folder
    test_loads: list | None = None  # cross-load check: every window of these loads' recordings, never trained on
    epochs: int = 30
    patience: int = 5
    warmup: int = 0  # epochs before early stopping may stop or pick weights: BN nets (MobileNet, EfficientNet)
    # sit at chance on validation for ~10 epochs of ~60 steps while their moving statistics settle
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    sim_seconds: float = 10.0  # simulator: seconds per fault recording (normal: twice that)
    sim_loads: list = field(default_factory=lambda: [0])
    formats: list = field(default_factory=lambda: ["tflite_fp32", "tflite_int8"])
    calibration: int = 256  # int8 representative windows from the training set


def load_records(cfg: VibrationConfig, run_dir: Path, data_dir=None):
    """CWRU records of `data_dir`, or of a simulated dataset written into run_dir/data."""
    if data_dir is None:
        from prognos.pipeline.data.bearing_sim import write_dataset

        data_dir = write_dataset(
            run_dir / "data", loads=cfg.sim_loads, seconds=cfg.sim_seconds, seed=cfg.seed, bearing=cfg.bearing
        )
    return load_folder(data_dir, cfg.loads), str(data_dir)


def model_name(cfg: VibrationConfig) -> str:
    """cfg.model, or the default for its kind: mlp on feature vectors, lenet on spectra and spectrograms."""
    return cfg.model or ("mlp" if cfg.kind in VECTOR_KINDS else "lenet")


def base_spec(cfg: VibrationConfig, shaft_source: str = "") -> DspSpec:
    """The unfitted DspSpec of a run: Hz features, order features with angular resampling, or fault orders."""
    if cfg.kind == "fault_orders":
        orders = OrderSpec(
            bearing=get_bearing(cfg.bearing).to_dict(),
            shaft_source=shaft_source or "given",
            prewhiten=cfg.order_prewhiten,
            summary=cfg.order_summary,
        )
        return DspSpec(kind=cfg.kind, window=cfg.order_window, hop=cfg.order_hop, orders=orders.to_dict())
    if cfg.samples_per_rev:
        return DspSpec(
            kind=cfg.kind,
            window=cfg.window,
            hop=cfg.hop,
            samples_per_rev=cfg.samples_per_rev,
            order_samples=cfg.order_samples,
        )
    return DspSpec(kind=cfg.kind, window=cfg.window, hop=cfg.hop)


def shaft_speeds(records, rec_index: np.ndarray) -> np.ndarray:
    """Shaft speed (Hz) of every window, from the recording it was cut from (the RPM in the file)."""
    return np.array([r.shaft_hz for r in records])[rec_index]


def shaft_source(records) -> str:
    """Where the training speeds came from, for the manifest: the file's RPM variable or the load's nominal."""
    kinds = sorted({"X<nnn>RPM in the file" if r.rpm_source == "file" else "nominal rpm of the load" for r in records})
    return "per recording: " + " or ".join(kinds)


def features(cfg: VibrationConfig, split, records):
    """The fitted DspSpec and the model inputs of the training and validation windows."""
    hz_t, hz_v = shaft_speeds(records, split.rec_train), shaft_speeds(records, split.rec_val)
    spec = fit_normalization(base_spec(cfg, shaft_source(records)), split.x_train, cfg.norm, hz_t)
    return spec, apply_many(spec, split.x_train, hz_t), apply_many(spec, split.x_val, hz_v)


def fit_classifier(cfg: VibrationConfig, x_train, y_train, x_val, y_val, log_dir=None):
    """Train `cfg.model` with early stopping on validation loss (best weights restored); TensorBoard
    (and MLflow, when configured) logs into `log_dir`."""
    from prognos.models import create_model
    from prognos.models.kerasapi import keras, tf
    from prognos.pipeline.rul.train import make_optimizer

    tf.keras.utils.set_random_seed(cfg.seed)
    model = create_model(
        model_name(cfg), x_train.shape[1:], task="classify", n_outputs=len(class_names(cfg)), **cfg.hparams
    )
    model.compile(make_optimizer("adam", cfg.lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(patience=cfg.patience, restore_best_weights=True, start_from_epoch=cfg.warmup)
    hist = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        callbacks=[stop, *_tracking(log_dir, cfg)],
        verbose=0,
    )
    return model, {k: [float(v) for v in vs] for k, vs in hist.history.items()}


def _tracking(log_dir, cfg: VibrationConfig) -> list:
    if log_dir is None:
        return []
    from prognos.pipeline import tracking

    return tracking.callbacks(log_dir, {k: v for k, v in vars(cfg).items() if k != "hparams"} | cfg.hparams)


def confusion(y_true, y_pred, n: int) -> np.ndarray:
    """C[i, j] = windows of true class i predicted as j."""
    c = np.zeros((n, n), np.int64)
    np.add.at(c, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return c


def plot_confusion(c: np.ndarray, path: Path, title: str, names=CLASSES_10):
    from prognos.pipeline.report.plots import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.imshow(c, cmap="Blues")
    for (i, j), v in np.ndenumerate(c):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="red" if i != j and v else "black")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(names, rotation=60, fontsize=7)
    ax.set_yticklabels(names, fontsize=7)
    save(fig, path)


def preprocessing(spec: DspSpec) -> dict:
    """The manifest's preprocessing: the DspSpec, plus for fault orders the bearing, its orders and the features."""
    pre = {"dsp": spec.to_dict(), "doc": "prognos.edge_runtime.dsp_spec.apply per window"}
    if spec.kind == "fault_orders":
        pre["fault_orders"] = describe(OrderSpec.from_dict(spec.orders))
    return pre


def export_bundles(cfg: VibrationConfig, model, spec: DspSpec, x_train, run_dir: Path, metrics: dict) -> dict:
    """Write one bundle per format; returns {format: bundle dir}."""
    from prognos.export.bundle import write_bundle
    from prognos.export.formats import get_formats

    rng = np.random.default_rng(cfg.seed)
    rep = x_train[rng.permutation(len(x_train))[: cfg.calibration]]
    out = {}
    for fmt in get_formats(cfg.formats):
        data = fmt.write(model, rep if fmt.quantized else None)
        out[fmt.name] = write_bundle(
            run_dir / "bundles" / fmt.name,
            data,
            fmt,
            None,
            metrics,
            {"run": str(run_dir), "model": model_name(cfg)},
            task="classify",
            preprocessing=preprocessing(spec),
            postprocessing={
                "classes": list(class_names(cfg)),
                "normal_class": "normal",
                "doc": "class = classes[argmax(probabilities)]",
            },
        )
    return out


def tflm_checks(bundles: dict, x_val: np.ndarray) -> dict:
    """The TensorFlow Lite Micro check (export.tflm) of the quantized TFLite bundles, also in their manifests."""
    from prognos.export import tflm
    from prognos.export.formats import BY_NAME

    return {
        name: tflm.record(path, (Path(path) / "model.tflite").read_bytes(), x_val)
        for name, path in bundles.items()
        if tflm.applies(BY_NAME[name])
    }


def bundle_predictions(bundle_dir, x: np.ndarray) -> np.ndarray:
    """Class probabilities of a bundle in its edge backend (LiteRT or onnxruntime)."""
    from prognos.edge_runtime.bundle import Bundle

    return Bundle(bundle_dir).backend.run(np.asarray(x, np.float32)).reshape(len(x), -1)


def cross_load(cfg: VibrationConfig, model, spec: DspSpec, bundles: dict, data_dir) -> dict:
    """Accuracy on all windows of the recordings at `cfg.test_loads` (other motor loads than training's)."""
    if cfg.loads and set(cfg.loads) & set(cfg.test_loads):
        raise ConfigError(f"test_loads {cfg.test_loads} overlap the training loads {cfg.loads}")
    return {
        "loads": list(cfg.test_loads),
        **score_records(cfg, model, spec, bundles, load_folder(data_dir, cfg.test_loads)),
    }


def score_records(cfg: VibrationConfig, model, spec: DspSpec, bundles: dict, records) -> dict:
    """Accuracy (Keras and every bundle) and Keras confusion over all windows of `records`, each
    featurized with `spec` at its recording's shaft speed."""
    per_rec = [windows(spec, r.signal) for r in records]
    x = np.concatenate(per_rec)
    hz = np.concatenate([np.full(len(w), r.shaft_hz) for w, r in zip(per_rec, records)])
    y = np.concatenate([np.full(len(w), getattr(r.label, LABELS[cfg.classes][0])) for w, r in zip(per_rec, records)])
    feats = apply_many(spec, x, hz)
    pred = model.predict(feats, verbose=0).argmax(1)
    out = {
        "records": len(records),
        "windows": len(x),
        "classes": sorted({class_names(cfg)[k] for k in y.tolist()}),
        "accuracy": {"keras": float(np.mean(pred == y))},
        "confusion_keras": confusion(y, pred, len(class_names(cfg))).tolist(),
    }
    for name, path in bundles.items():
        out["accuracy"][name] = float(np.mean(bundle_predictions(path, feats).argmax(1) == y))
    return out


def vibration_run(cfg: VibrationConfig, run_dir, data_dir=None, records=None) -> dict:
    """Load (or take `records`), split, featurize, train, evaluate, export; returns metrics (also in metrics.json)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    records, source = (records, str(data_dir)) if records is not None else load_records(cfg, run_dir, data_dir)
    spec = base_spec(cfg)
    split = split_windows(records, spec.window, spec.hop, cfg.train_fraction, LABELS[cfg.classes][0])
    if len(split.x_val) == 0 or len(np.unique(split.y_train)) < 2:
        raise ConfigError(
            f"{source}: {len(split.x_train)} training / {len(split.x_val)} validation windows in "
            f"{len(np.unique(split.y_train))} classes; need validation windows and >= 2 classes"
        )
    spec, xt, xv = features(cfg, split, records)
    model, history = fit_classifier(cfg, xt, split.y_train, xv, split.y_val, log_dir=run_dir / "tb" / "classifier")
    keras_prob = model.predict(xv, verbose=0)
    keras_pred = keras_prob.argmax(1)
    names = class_names(cfg)
    c = confusion(split.y_val, keras_pred, len(names))
    metrics = {
        "data": source,
        "records": len(records),
        "train_windows": len(xt),
        "val_windows": len(xv),
        "input_shape": list(input_shape(spec)),
        "epochs_run": len(history["loss"]),
        "val_accuracy": {"keras": float(np.mean(keras_pred == split.y_val))},
        "agreement_with_keras": {},
        "confusion_keras": c.tolist(),
        "classes": list(names),
    }
    model.save(run_dir / "model.keras")
    (run_dir / "dsp_spec.json").write_text(json.dumps(spec.to_dict(), indent=2))
    plot_confusion(
        c,
        run_dir / "confusion.png",
        f"{model_name(cfg)}: validation accuracy {metrics['val_accuracy']['keras']:.3f}",
        names,
    )
    bundles = export_bundles(cfg, model, spec, xt, run_dir, {"val_accuracy_keras": metrics["val_accuracy"]["keras"]})
    for name, path in bundles.items():
        pred = bundle_predictions(path, xv).argmax(1)
        metrics["val_accuracy"][name] = float(np.mean(pred == split.y_val))
        metrics["agreement_with_keras"][name] = float(np.mean(pred == keras_pred))
    metrics["tflm"] = tflm_checks(bundles, xv)
    if cfg.test_loads:
        metrics["cross_load"] = cross_load(cfg, model, spec, bundles, data_dir or source)
    metrics["bundles"] = {k: str(v) for k, v in bundles.items()}
    metrics["config"] = asdict(cfg)
    np.savez(run_dir / "val_predictions.npz", prob=keras_prob, y=split.y_val)  # the report's ROC curves
    (run_dir / "history.json").write_text(json.dumps(history))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
