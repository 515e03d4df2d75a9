"""The transfer check: a 4-class fault diagnosis trained on one bearing, scored on another it never saw.

Simulator (default): bearings A (train) and B (test) each get their own dataset from
`pipeline.data.bearing_sim` (B with its own resonances and another seed). A model on `fault_orders`
features (edge_runtime.orders) trains on A with the usual time-segment validation
(`vibration_run`, bundles included); then every window of B is featurized with B's geometry
(`dsp_spec.with_bearing`, what `prognos-edge classify --bearing` does) and scored. Two controls show
what reading at the bearing's own orders buys:

    read_at_train_orders   the same model, B's windows read at A's fault orders (geometry ignored)
    hz_envelope            the same MLP trained on A's Hz envelope spectrum (no order normalization)

Real data (`data_dir`, the CWRU drive end): the other bearing type (fan end) is held back, so each
fault size in turn is the held-back bearing (every CWRU fault size is its own seeded bearing,
recorded at every load): train on the other sizes and the healthy recording, score every window
of the held-back size's recordings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from prognos.edge_runtime.bearings import get_bearing
from prognos.edge_runtime.dsp_spec import DspSpec, with_bearing
from prognos.pipeline.data.cwru import SIZES_MILS, load_folder
from prognos.pipeline.vibration.train import VibrationConfig, score_records, vibration_run


@dataclass
class TransferConfig:
    """One transfer check; defaults: simulated SKF 6205 -> SKF 6203, both loads of the CWRU speed table."""

    train_bearing: str = "6205"  # name, TOML file or FILE.toml:NAME (edge_runtime.bearings)
    test_bearing: str = "6203"
    loads: list = field(default_factory=lambda: [0, 1])  # motor loads (HP): shaft speeds of the CWRU table
    sim_seconds: float = 10.0  # simulator: seconds per fault recording (normal: twice that), as CWRU
    window: int = 8192  # 0.68 s at 12 kHz: 1.5 Hz envelope bins
    hop: int = 2048
    epochs: int = 40
    patience: int = 8
    hparams: dict = field(default_factory=lambda: {"widths": [64, 32], "dropout": 0.2})  # the mlp
    formats: list = field(default_factory=lambda: ["tflite_int8"])
    hz_control: bool = True  # also train and score the hz_envelope control (a second training run)
    seed: int = 0
    prewhiten: bool = False  # fault_orders: cepstral pre-whitening before the envelope (edge_runtime.orders)
    summary: str = "lines"  # fault_orders: "lines", "families" or "lines+families" (orders.OrderSpec.summary)


def vib_config(tcfg: TransferConfig, kind: str = "fault_orders", bearing: str | None = None) -> VibrationConfig:
    return VibrationConfig(
        model="mlp",
        hparams=dict(tcfg.hparams),
        classes=4,
        kind=kind,
        bearing=bearing or tcfg.train_bearing,
        window=tcfg.window,
        hop=tcfg.hop,
        order_window=tcfg.window,
        order_hop=tcfg.hop,
        order_prewhiten=tcfg.prewhiten,
        order_summary=tcfg.summary,
        epochs=tcfg.epochs,
        patience=tcfg.patience,
        seed=tcfg.seed,
        formats=list(tcfg.formats),
    )


def train_on(cfg: VibrationConfig, run_dir: Path, records, source: str):
    """vibration_run on `records`; returns (metrics, Keras model, fitted DspSpec, {format: bundle dir})."""
    from prognos.models.kerasapi import keras

    metrics = vibration_run(cfg, run_dir, source, records)
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    spec = DspSpec.from_dict(json.loads((run_dir / "dsp_spec.json").read_text()))
    return metrics, model, spec, metrics["bundles"]


def simulated(tcfg: TransferConfig, run_dir: Path, bearing: str, seed: int):
    from prognos.pipeline.data.bearing_sim import write_dataset

    name = get_bearing(bearing).name
    folder = write_dataset(
        run_dir / f"data-{name}", loads=tcfg.loads, seconds=tcfg.sim_seconds, seed=seed, bearing=bearing
    )
    return load_folder(folder), str(folder)


def check(tcfg: TransferConfig, run_dir: Path, train, test, test_bearing: str) -> dict:
    """Train on `train` (records, source), score `test` read with `test_bearing`, plus the controls."""
    cfg = vib_config(tcfg)
    metrics, model, spec, bundles = train_on(cfg, run_dir / "fault_orders", *train)
    out = {
        "train": {
            "data": train[1],
            "bearing": get_bearing(tcfg.train_bearing).name,
            "val_accuracy": metrics["val_accuracy"],
        },
        "test": {
            "data": test[1],
            "bearing": get_bearing(test_bearing).name,
            **score_records(cfg, model, with_bearing(spec, test_bearing), bundles, test[0]),
        },
    }
    out["controls"] = {}
    if get_bearing(test_bearing) != get_bearing(tcfg.train_bearing):
        out["controls"]["read_at_train_orders"] = score_records(cfg, model, spec, {}, test[0])["accuracy"]
    if tcfg.hz_control:
        hz_cfg = vib_config(tcfg, "envelope_spectrum")
        hz_cfg.formats = []
        _, hz_model, hz_spec, _ = train_on(hz_cfg, run_dir / "hz_envelope", *train)
        out["controls"]["hz_envelope"] = score_records(hz_cfg, hz_model, hz_spec, {}, test[0])["accuracy"]
    return out


def held_back_sizes(tcfg: TransferConfig, run_dir: Path, data_dir) -> dict:
    """Real drive-end data: each fault size in turn held back (module docstring)."""
    records = load_folder(data_dir, tcfg.loads)
    out = {}
    for size in SIZES_MILS:
        keep = [r for r in records if r.label.size_mils != size]
        held = [r for r in records if r.label.size_mils == size]
        sub = replace(tcfg, hz_control=False)
        out[f"held_back_{size:03d}"] = check(
            sub, run_dir / f"held-{size:03d}", (keep, str(data_dir)), (held, str(data_dir)), tcfg.train_bearing
        )
    return out


def transfer_run(tcfg: TransferConfig, run_dir, data_dir=None) -> dict:
    """The transfer check (simulated A -> B, or real held-back bearings); writes transfer.json."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if data_dir is None:
        result = {
            "simulated": check(
                tcfg,
                run_dir,
                simulated(tcfg, run_dir, tcfg.train_bearing, tcfg.seed),
                simulated(tcfg, run_dir, tcfg.test_bearing, tcfg.seed + 1),
                tcfg.test_bearing,
            )
        }
    else:
        result = {"cwru_drive_end": held_back_sizes(tcfg, run_dir, data_dir)}
    result["config"] = asdict(tcfg)
    (run_dir / "transfer.json").write_text(json.dumps(result, indent=2))
    return result
