"""Out-of-distribution flag: the manifest's per-feature training ranges (export.bundle.input_ranges) and the
stream's "ood" field and per-feature counter, on rows shifted out of range; predictions unchanged."""

import json
import shutil

import numpy as np

from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.feed import Feeder
from prognos.edge_runtime.metrics import prometheus
from prognos.edge_runtime.schema import CMAPSS_COLUMNS
from prognos.edge_runtime.stream import StreamEngine
from prognos.export.bundle import input_ranges
from prognos.pipeline.rul.runs import load_run


def stream(bundle_dir, lines):
    engine = StreamEngine(Bundle(bundle_dir))
    preds, _ = Feeder(engine).feed_lines(lines)
    return preds, engine.stats


def test_manifest_ranges_are_the_training_windows_quantiles(tiny_run):
    manifest = Bundle(tiny_run["dir"] / "bundles" / "onnx_fp32").manifest
    trained = load_run(tiny_run["dir"])
    want = input_ranges(trained.pre, trained.train.x)
    assert manifest["input_ranges"] == want and want["features"] == trained.pre.features
    assert all(lo < hi for lo, hi in zip(want["low"], want["high"]))


def test_shifted_rows_are_flagged_and_counted_without_changing_predictions(tiny_run, sim_dir, tmp_path):
    bundle = tiny_run["dir"] / "bundles" / "onnx_fp32"
    pre = Bundle(bundle).preprocessor
    feature = pre.features[0]
    col, unit, shift = CMAPSS_COLUMNS.index(feature), "2", 20 * pre.std[0]
    lines = (sim_dir / "test_SIM.txt").read_text().splitlines()
    shifted = []
    for ln in lines:
        v = ln.split()
        if v[0] == unit:
            v[col] = repr(float(v[col]) + shift)
        shifted.append(" ".join(v))
    base, _ = stream(bundle, lines)
    preds, stats = stream(bundle, shifted)
    plain = shutil.copytree(bundle, tmp_path / "no_ranges")  # the same model without the ranges
    manifest = json.loads((plain / "manifest.json").read_text())
    del manifest["input_ranges"]
    (plain / "manifest.json").write_text(json.dumps(manifest))
    unflagged, _ = stream(plain, shifted)
    assert [{k: v for k, v in p.items() if k != "ood"} for p in preds] == unflagged
    mine = [p for p in preds if str(p["unit"]) == unit]
    assert mine and all(feature in p["ood"] for p in mine)
    others = [(p, b) for p, b in zip(preds, base) if str(p["unit"]) != unit]
    assert all(p.get("ood") == b.get("ood") for p, b in others)  # other units: as without the shift
    counts = {f: sum(f in p.get("ood", ()) for p in preds) for f in pre.features}
    assert stats.ood[feature] == counts[feature] >= len(mine) and dict(stats.ood) == {
        f: c for f, c in counts.items() if c
    }
    assert f'prognos_ood_rows_total{{feature="{feature}"}} {counts[feature]}' in prometheus(stats, "x")
    assert np.mean([bool(b.get("ood")) for b in base]) < 0.5  # in-distribution rows are mostly not flagged
