"""`prognos zoo-report`: every registered model down every deployment path, as one table.

Each model of `models.list_models()` is built untrained on (32, 14) windows (32 time steps of the
14 informative C-MAPSS sensors; 32 so that every stride and ViT patch divides it) and each of its
deployable networks (`models.deployables`: the VAE encoder and decoder and a GAN generator count
separately) goes through the project's own export code:

- params, MACs at batch 1 (models.macs), `.keras` file size;
- TFLite fp32 and full-int8 (rows `tflite_fp32`, `tflite_int8` of export.formats) and ONNX
  (`onnx_fp32`): file size and parity with Keras in LiteRT / onnxruntime (export.parity);
- prune: tfmot prune_low_magnitude with 50 % constant sparsity for one fine-tuning epoch
  (export.prune through export.tune.Tuner); ok when the stripped kernels are half zeros. A stripped
  model has the layers it had, so it converts as the PTQ-int8 column says;
- QAT: export.qat (the project's tfmot workarounds) through the Tuner, one epoch, then full-int8
  TFLite with int8 I/O run in LiteRT against the fake-quantized Keras model;
- LiteRT single-window latency (p50, 1 thread) of the fp32 and int8 files;
- TFLM: the PTQ int8 file in TensorFlow Lite Micro (export.tflm): smallest arena and max |TFLM − LiteRT|
  in output steps on the checked windows, or the missing kernel.

The fine-tuning data are random normal windows whose targets are the float network's own outputs,
so every output structure trains with mse. Sizes, MACs and latency do not depend on the weights.
Every cell is "ok" or "fails: <reason>"; a failure is recorded and the next cell runs.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from prognos.edge_runtime.tables import Table

WINDOW = (32, 14)
N_OUTPUTS = {"classify": 3}  # other tasks: 1
N_TRAIN, N_CHECK = 64, 8
PATHS = ("ptq_int8", "tflm", "onnx", "prune", "qat")


def build_deployables(name: str, input_shape=WINDOW) -> dict:
    """{network name: functional Keras model} of registered model `name`, untrained, seed 0."""
    from prognos.models import create_model, deployables
    from prognos.models.kerasapi import keras
    from prognos.models.registry import get_entry

    keras.utils.set_random_seed(0)
    task = get_entry(name).tasks[0]
    model = create_model(name, input_shape, task=task, n_outputs=N_OUTPUTS.get(task, 1))
    return deployables(model)


def _cell(row: dict, key: str, fn):
    """row[key] = "ok..." from fn(), or "fails: <reason>"; never raises."""
    from prognos.export.run import error_reason

    t0 = time.time()
    try:
        row[key] = fn()
    except Exception as e:  # one path failing for one architecture is a result, not a crash
        reason = error_reason(e)
        row[key] = f"fails: {reason if reason.startswith(type(e).__name__) else f'{type(e).__name__}: {reason}'}"
    print(f"[zoo]   {row['model']}/{row['net']} {key}: {time.time() - t0:.1f} s, {row[key][:110]}", flush=True)


def _latency_us(content: bytes, min_seconds: float) -> float:
    from ai_edge_litert.interpreter import Interpreter

    from prognos.edge_runtime.timing import time_calls

    it = Interpreter(model_content=content, num_threads=1)
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    return time_calls(it.invoke, min_seconds)["p50_us"]


class NetReport:
    """The cells of one deployable network; each method fills its cells of `row`."""

    def __init__(self, net, min_seconds: float):
        from prognos.export.parity import keras_outputs, random_feed

        self.net, self.min_seconds = net, min_seconds
        self.train = random_feed(net, N_TRAIN, seed=0)
        # checked windows are calibration windows: the check measures quantization error, not whether 64
        # random windows cover the ranges of 8 others (a property of the data, not of the architecture)
        self.check = {k: v[:N_CHECK] for k, v in self.train.items()}
        self.want = keras_outputs(net, self.check)
        self.rep = next(iter(self.train.values()))  # calibration windows (single-input nets)
        self.row: dict = {}
        self._tuner = None
        self.int8_content = None

    def tuner(self):
        from prognos.export.parity import keras_outputs
        from prognos.export.finetune import TuneConfig
        from prognos.export.tune import Tuner

        if self._tuner is None:
            x = list(self.train.values())
            y = keras_outputs(self.net, self.train)
            data = SimpleNamespace(x=x if len(x) > 1 else x[0], y=y if len(y) > 1 else y[0])
            self._tuner = Tuner(self.net, data, data, TuneConfig(epochs=1, batch_size=32), calibration=self.rep)
        return self._tuner

    def static(self, tmp: Path):
        from prognos.models.macs import mac_count

        macs = mac_count(self.net)
        self.row.update(params=int(self.net.count_params()), macs=macs.total, macs_uncounted=macs.unknown)
        path = tmp / f"{self.net.name}.keras"
        self.net.save(path)
        self.row["keras_bytes"] = path.stat().st_size

    def tflite(self, fmt_name: str, size_key: str, latency_key: str, check):
        from prognos.export.formats import BY_NAME

        fmt = BY_NAME[fmt_name]
        content = fmt.write(self.net, self.rep if fmt.quantized else None)
        if fmt.quantized:
            self.int8_content = content  # for the TFLM cell
        self.row[size_key] = len(content)
        self.row[latency_key] = _latency_us(content, self.min_seconds)
        return check(content)

    def fp32_parity(self, content):
        from prognos.export.parity import float_error, tflite_outputs

        got, _ = tflite_outputs(content, self.check, self.net.output_names)
        return _ok(float_error(self.want, got))

    def int8_parity(self, content, model=None):
        from prognos.export.parity import int8_error, int8_steps, keras_outputs, tflite_outputs

        want = self.want if model is None else keras_outputs(model, self.check)
        got, scales = tflite_outputs(content, self.check, self.net.output_names)
        return _ok(int8_error(want, got, scales), f"ok ({int8_steps(want, got, scales):.1f} steps)")

    def tflm(self):
        """The PTQ int8 file in TensorFlow Lite Micro (export.tflm): arena and parity with LiteRT, or why not."""
        from prognos.export.tflm import check, summary

        if self.int8_content is None:
            raise ValueError("no int8 file (the PTQ int8 cell failed)")
        inputs = [self.check[k] for k in self.check]
        result = check(self.int8_content, inputs if len(inputs) > 1 else inputs[0])
        self.row["tflm_arena_bytes"] = result.get("arena_bytes")
        return summary(result)

    def onnx(self):
        from prognos.export.formats import BY_NAME
        from prognos.export.parity import float_error, onnx_outputs

        content = BY_NAME["onnx_fp32"].write(self.net, None)
        self.row["onnx_bytes"] = len(content)
        return _ok(float_error(self.want, onnx_outputs(content, self.check)))

    def prune(self):
        from prognos.export.finetune import Tune

        stripped, report = self.tuner().get(Tune("prune", 0.5, "constant"))
        kernels = [k for layer, ks in report["weights"].items() if layer not in report["skipped"] for k in ks.values()]
        if not kernels:
            raise ValueError(f"no prunable kernel besides the head {report['skipped']}")
        zeros = sum(k["sparsity"] * k["size"] for k in kernels) / sum(k["size"] for k in kernels)
        if not 0.45 <= zeros <= 0.55:
            raise ValueError(f"kernels {zeros:.0%} zeros after pruning to 50 %")
        return f"ok ({zeros:.0%} zeros)"

    def qat(self):
        from prognos.export.convert import to_tflite
        from prognos.export.finetune import Tune

        model, _ = self.tuner().get(Tune("qat"))
        content = to_tflite(model, "int8", self.rep, rnn="dense")
        self.row["qat_int8_bytes"] = len(content)
        return self.int8_parity(content, model)


def _ok(error: str | None, ok: str = "ok") -> str:
    if error:
        raise ValueError(f"parity: {error}")
    return ok


def report_net(model_name: str, net_name: str, net, min_seconds: float) -> dict:
    r = NetReport(net, min_seconds)
    r.row.update(model=model_name, net=net_name)
    with tempfile.TemporaryDirectory() as tmp:
        _cell(r.row, "static", lambda: r.static(Path(tmp)) or "ok")
    _cell(r.row, "tflite_fp32", lambda: r.tflite("tflite_fp32", "tflite_fp32_bytes", "fp32_p50_us", r.fp32_parity))
    _cell(r.row, "ptq_int8", lambda: r.tflite("tflite_int8", "tflite_int8_bytes", "int8_p50_us", r.int8_parity))
    _cell(r.row, "tflm", r.tflm)
    _cell(r.row, "onnx", r.onnx)
    _cell(r.row, "prune", r.prune)
    _cell(r.row, "qat", r.qat)
    return r.row


def model_rows(name: str, min_seconds: float) -> list:
    """The report rows of registered model `name`, one per deployable network."""
    return [report_net(name, net_name, net, min_seconds) for net_name, net in build_deployables(name).items()]


def zoo_report(out_dir="artifacts/zoo", names=None, min_seconds: float = 0.5, jobs: int = 1) -> dict:
    """Write zoo.json and zoo.md for `names` (default: every registered model) into `out_dir`.

    `jobs` > 1 runs that many models at once in worker processes (each imports TensorFlow: ~1 GB),
    started in the order of `names` (put slow ones first); the table is sorted by name.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from prognos.edge_runtime.errors import ConfigError
    from prognos.edge_runtime.timing import machine_info
    from prognos.export.bundle import library_versions
    from prognos.models import list_models

    names = list(names or list_models())
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        raise ConfigError(f"zoo-report: unknown models {unknown}; registered: {', '.join(list_models())}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": machine_info(),
        "libraries": library_versions(),
        "window": list(WINDOW),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": [],
    }
    t0, done = time.time(), {}
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) if jobs > 1 else _InProcess() as pool:
        futures = {pool.submit(model_rows, n, min_seconds): n for n in names}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            print(f"[zoo] {len(done)}/{len(names)} done: {futures[future]} ({time.time() - t0:.0f} s)", flush=True)
            result["rows"] = [row for n in sorted(done) for row in done[n]]
            _write(out, result)  # a partial table survives an interrupted run
    result["seconds"] = round(time.time() - t0)
    _write(out, result)
    return result


def merge_reports(paths, out_dir="artifacts/zoo") -> dict:
    """One table from zoo.json files of runs split over processes or machines (a model in several
    files: the later file wins). The header keeps the first file's machine and the latest date."""
    from prognos.edge_runtime.errors import DataError

    results, models = [], {}
    for path in paths:
        try:
            results.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as e:
            raise DataError(f"zoo-report --merge: {path} is not a readable zoo.json ({e})") from None
        for row in results[-1]["rows"]:
            models.setdefault(row["model"], {})[path] = models.get(row["model"], {}).get(path, []) + [row]
    rows = [row for m in sorted(models) for row in list(models[m].values())[-1]]
    merged = {
        **results[0],
        "date": max(r["date"] for r in results),
        "merged_from": [str(p) for p in paths],
        "seconds": max(r.get("seconds", 0) for r in results),
        "rows": rows,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write(out, merged)
    return merged


class _InProcess:
    """The executor interface, run in this process one call at a time (jobs=1: plain tracebacks, no spawn)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future = Future()
        future.set_result(fn(*args))
        return future


def _write(out: Path, result: dict):
    (out / "zoo.json").write_text(json.dumps(result, indent=2))
    (out / "zoo.md").write_text(markdown(result))


def _n(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "–"


def _kb(n) -> str:
    return f"{n / 1024:.1f}" if isinstance(n, (int, float)) else "–"


def _us(n) -> str:
    return f"{n:.0f}" if isinstance(n, (int, float)) else "–"


def _short(cell: str, notes: list) -> str:
    """'ok…' as is; a failure becomes 'fails [n]' with its full reason as note n below the table."""
    if not cell.startswith("fails"):
        return cell
    notes.append(cell[len("fails: ") :])
    return f"fails [{len(notes)}]"


def table(result: dict) -> Table:
    m, notes = result["machine"], []
    merged = (
        f" Merged from {', '.join(result['merged_from'])} (split runs, `prognos zoo-report --merge`)."
        if result.get("merged_from")
        else ""
    )
    out = Table(
        [
            "model",
            "net",
            "params",
            "MACs",
            ".keras KB",
            "fp32 KB",
            "int8 KB",
            "TFLite fp32",
            "PTQ int8",
            "TFLM",
            "ONNX",
            "prune",
            "QAT",
            "fp32 µs",
            "int8 µs",
        ],
        "llrrrrrllllllrr",
        before=[
            f"`prognos zoo-report` (make zoo-report) on {m['cpu']}, {m['cores']} cores, {result['date']}; "
            f"untrained nets on ({result['window'][0]}, {result['window'][1]}) windows; latency: LiteRT "
            f"p50, 1 thread, batch 1.{merged}"
        ],
    )
    for r in result["rows"]:
        cells = [_short(r.get(k, "fails: not reached"), notes) for k in ("tflite_fp32", *PATHS)]
        out.add(
            r["model"],
            "" if r["net"] == r["model"] else r["net"],
            _n(r.get("params")),
            _n(r.get("macs")),
            _kb(r.get("keras_bytes")),
            _kb(r.get("tflite_fp32_bytes")),
            _kb(r.get("tflite_int8_bytes")),
            *cells,
            _us(r.get("fp32_p50_us")),
            _us(r.get("int8_p50_us")),
        )
    uncounted = [f"{r['model']}/{u}" for r in result["rows"] for u in r.get("macs_uncounted", [])]
    out.after = ["Uncounted layers (0 MACs): " + (", ".join(uncounted) or "none.")]
    if notes:
        out.after += ["Why a path fails:", "\n".join(f"{i}. {n}" for i, n in enumerate(notes, 1))]
    return out


def markdown(result: dict) -> str:
    return "# Model zoo: parameters, MACs, sizes, deployment paths, latency\n\n" + table(result).markdown()
