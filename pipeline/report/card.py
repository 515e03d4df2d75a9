"""The model card of `prognos report` (Mitchell et al. 2019, "Model Cards for Model Reporting").

Built only from what the run folder records: config.json (data, model, training), preprocessor.json
or dsp_spec.json (preprocessing), metrics.json and parity.json (metrics of the Keras model and of
every exported artifact, measured in its runtime). Intended use and limits are the project's
statements for the run's task, completed with the run's own numbers (RUL cap, split, data source).
"""

from __future__ import annotations

import html
import json
from pathlib import Path


class Missing(Exception):
    """A section the run cannot show yet; the message is the command that produces it."""


RUL_USE = (
    "Estimate the remaining useful life (cycles) of each engine from its last {window} cycles of "
    "sensor readings, to plan maintenance with a person in the loop; an alert fires when the "
    "prediction falls below the bundle's threshold."
)
RUL_LIMITS = [
    "Predictions above the RUL cap of {cap:g} cycles are not meaningful: training targets are capped "
    "(piecewise-linear RUL).",
    "Validated on engines held out by unit from the training data ({val_units} units); C-MAPSS test "
    "labels are never used, so these numbers say nothing about other fleets or operating regimes.",
    "{data_note}",
    "Quantized artifacts differ from the Keras model: see each artifact's RMSE and max |diff| below.",
]
CLASSIFY_USE = (
    "Classify bearing condition (normal, or inner-race / ball / outer-race fault and its size) from "
    "a vibration window, as a screening aid before a vibration analyst looks."
)
CLASSIFY_LIMITS = [
    "Validation is by time segment of the same recordings; other machines, sensors, mounting and "
    "sampling rates are out of distribution.",
    "CWRU motor loads 2 and 3 HP are held back from training and tuning.",
    "Unknown fault types are forced into one of the known classes.",
]


def _json(run: Path, name: str):
    p = run / name
    return json.loads(p.read_text()) if p.is_file() else {}


def _dl(items: dict) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in items.items() if v) + "</dl>"


def _artifacts(parity: dict) -> str:
    def cell(v, scale: float = 1.0) -> str:
        return "–" if v is None else f"{v / scale:.3f}" if scale == 1.0 else f"{v / scale:.1f}"

    rows = [
        f"<tr><td>{html.escape(k)}</td><td>{cell(v['val']['rmse'])}</td><td>{cell(v.get('max_abs_diff'))}</td>"
        f"<td>{cell(v.get('size_bytes'), 1024)}</td></tr>"
        for k, v in parity.items()
        if "val" in v
    ]
    return (
        (
            "<table><tr><th>artifact</th><th>val RMSE</th><th>max |diff| vs Keras</th><th>size KB</th></tr>"
            + "".join(rows)
            + "</table>"
        )
        if rows
        else ""
    )


def _rul_card(run: Path, cfg: dict, metrics: dict) -> dict:
    pre, data = _json(run, "preprocessor.json"), cfg.get("data", {})
    resolved = cfg.get("resolved_data", {})
    simulated = data.get("data_dir") is None
    source = (
        "built-in turbofan simulator (pipeline.simulate, C-MAPSS text format)"
        if simulated
        else f"C-MAPSS folder {data.get('data_dir')} (subset {resolved.get('subset') or data.get('subset')})"
    )
    note = (
        "Trained on simulated engines: a demonstration, not a model of real engines."
        if simulated
        else "Real C-MAPSS turbofan simulation data (NASA); real engines will differ."
    )
    val = metrics.get("val", {})
    fmt = {
        "window": pre.get("window"),
        "cap": pre.get("rul_cap", 0),
        "val_units": len(resolved.get("val_units", [])),
        "data_note": note,
    }
    return {
        "Data": f"{html.escape(source)}; {len(resolved.get('train_units', []))} training / {fmt['val_units']} "
        f"validation engines (split by unit, seed {data.get('seed')})",
        "Preprocessing": html.escape(
            f"{len(pre.get('features', []))} sensors kept by "
            f"{pre.get('selection', {}).get('rule', 'selection')}: "
            f"{', '.join(pre.get('features', []))}; z-score with training-unit mean/std; "
            f"windows of {pre.get('window')} cycles ({pre.get('padding')} padding); "
            f"RUL capped at {pre.get('rul_cap')}"
        ),
        "Metrics": html.escape(
            f"validation RMSE {val.get('rmse')} cycles, NASA score {val.get('score')} on {val.get('n')} windows"
        )
        + _artifacts(_json(run, "parity.json")),
        "Intended use": html.escape(RUL_USE.format(**fmt)),
        "Limits": "<ul>" + "".join(f"<li>{html.escape(s.format(**fmt))}</li>" for s in RUL_LIMITS) + "</ul>",
    }


def _classify_card(run: Path, metrics: dict) -> dict:
    spec = _json(run, "dsp_spec.json")
    acc = metrics.get("val_accuracy", {})
    return {
        "Data": html.escape(
            f"{metrics.get('data')}: {metrics.get('train_windows')} training / "
            f"{metrics.get('val_windows')} validation windows (split by time segment)"
        ),
        "Preprocessing": html.escape(
            f"edge_runtime.dsp {spec.get('kind')} features, window {spec.get('window')}, "
            f"hop {spec.get('hop')} (the same numpy code runs on the device)"
        ),
        "Metrics": html.escape("validation accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items())),
        "Intended use": html.escape(CLASSIFY_USE),
        "Limits": "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in CLASSIFY_LIMITS) + "</ul>",
    }


def card(run: Path) -> str:

    cfg, metrics = _json(run, "config.json"), _json(run, "metrics.json")
    if not metrics:
        raise Missing(f"make train RUN={run}")
    if "confusion_keras" in metrics:
        items = {"Model": html.escape(str(metrics.get("config", {}).get("model"))), **_classify_card(run, metrics)}
    else:
        model = cfg.get("model", {})
        hp = f" {model['hparams']}" if model.get("hparams") else ""
        items = {
            "Model": html.escape(
                f"{model.get('name')}{hp}, {metrics.get('params'):,} parameters, "
                f"{metrics.get('epochs')} epochs (early stopping)"
            ),
            **_rul_card(run, cfg, metrics),
        }
    return _dl(items)
