"""The TFLM side of export.tflm, in its own process: `python -m prognos.export.tflm_worker MODEL.tflite`.

Why a process: the TFLM interpreter of the `tflite-micro` package dereferences a failed allocation
instead of reporting it for some models and arena sizes (the fused int8 LSTM at 2 and 4 KB, a LeNet
at 4 KB: a segfault; the same class of bug as tensorflow/tflite-micro#2037, there fixed for one
allocation), which would kill the caller. The parent (export.tflm) sends one JSON command per line on stdin and reads one JSON line
back; when this process dies, the parent records the arena size as one that does not work and starts
a new worker.

Commands: {"arena": n} -> {"ok": bool, "why": TFLM's own message}; {"parity": {"arena": n,
"windows": [.npy paths], "index": [...]}} -> max |TFLM - LiteRT| per output (dequantized).
TFLM reports why it failed only on the C stderr (MicroPrintf): `c_stderr` captures file
descriptor 2 around each call.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import contextmanager

import numpy as np


@contextmanager
def c_stderr(sink: list):
    """Redirect file descriptor 2 into a temporary file; append its text to `sink` afterwards."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.append(tmp.read().decode(errors="replace"))


class Micro:
    """A TFLM interpreter that has allocated and invoked once on zeros (RuntimeError if it cannot)."""

    def __init__(self, content: bytes, arena: int, n_in: int, n_out: int, why: list):
        from tflite_micro.python.tflite_micro import runtime

        with c_stderr(why):
            self.it = runtime.Interpreter.from_bytes(content, arena_size=arena)
            self.ins = [self.it.get_input_details(i) for i in range(n_in)]
            self.outs = [self.it.get_output_details(i) for i in range(n_out)]
            self.run([np.zeros(d["shape"], np.float32) for d in self.ins])

    def run(self, feeds: list) -> list:
        """Dequantized outputs of one window (one array per input); variable tensors reset after."""
        from prognos.edge_runtime.backends import dequantize, quantize

        for i, (d, x) in enumerate(zip(self.ins, feeds)):
            self.it.set_input(quantize(x, _spec(d)), i)
        self.it.invoke()
        outs = [dequantize(self.it.get_output(i), _spec(d)) for i, d in enumerate(self.outs)]
        self.it.reset()  # the fused LSTM's h and c persist across invokes
        return outs


def _spec(d: dict):
    from prognos.edge_runtime.backends import TensorSpec

    if "quantization_parameters" in d:  # TFLM details
        q = d["quantization_parameters"]
        scale, zp = (float(q["scales"][0]), int(q["zero_points"][0])) if len(q["scales"]) else (0.0, 0)
    else:  # LiteRT details
        scale, zp = float(d["quantization"][0]), int(d["quantization"][1])
    return TensorSpec("", tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name, scale, zp)


def _litert_run(it, feeds: list) -> list:
    from prognos.edge_runtime.backends import dequantize, quantize

    it.reset_all_variables()  # the same persistence in LiteRT (tensorflow/tensorflow#47813)
    for d, x in zip(it.get_input_details(), feeds):
        it.set_tensor(d["index"], quantize(x, _spec(d)))
    it.invoke()
    return [dequantize(it.get_tensor(d["index"]), _spec(d)) for d in it.get_output_details()]


def parity(content: bytes, n_io: tuple, cmd: dict) -> dict:
    """{"max_abs": [per output]} of TFLM against LiteRT on the windows cmd["index"] of cmd["windows"]."""
    from ai_edge_litert.interpreter import Interpreter

    micro = Micro(content, cmd["arena"], *n_io, [])
    lite = Interpreter(model_content=content, num_threads=1)
    lite.allocate_tensors()
    inputs = [np.load(p, mmap_mode="r") for p in cmd["windows"]]
    worst = np.zeros(n_io[1])
    for i in cmd["index"]:
        feeds = [np.asarray(x[i : i + 1], np.float32) for x in inputs]
        for k, (a, b) in enumerate(zip(micro.run(feeds), _litert_run(lite, feeds))):
            worst[k] = max(worst[k], float(np.max(np.abs(a.astype(np.float64) - b))))
    return {"max_abs": worst.tolist()}


def serve(path: str, n_in: int, n_out: int) -> None:
    with open(path, "rb") as f:
        content = f.read()
    for line in sys.stdin:
        cmd = json.loads(line)
        if "arena" in cmd:
            why: list = []
            try:
                Micro(content, cmd["arena"], n_in, n_out, why)
                reply = {"ok": True}
            except RuntimeError:  # the pybind wrapper's one error type; TFLM's reason is on the C stderr
                reply = {"ok": False, "why": "".join(why)}
        else:
            reply = parity(content, (n_in, n_out), cmd["parity"])
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
