"""Run a raw vibration recording through a "classify" or "anomaly" bundle, on the device (numpy + LiteRT/ORT).

The stream is framed with the bundle's DspSpec (window, hop), each window goes through
`dsp_spec.apply` (the same numpy code as in training), the batch through the backend, and the
outputs through `stream.OUTPUTS[task]`: one dict per full window, {"window", "start"} plus
"classify": {"class", "prob", "status" ok|fault}; "anomaly": {"score", "threshold", "status" healthy|anomalous}
(score = reconstruction error of the DSP features, computed in numpy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prognos.edge_runtime import dsp_spec
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.errors import BundleError, DataError
from prognos.edge_runtime.stream import OUTPUTS


def read_samples(path) -> np.ndarray:
    """Raw samples of a .npy file (1-D) or a text file with one number per line (blank lines skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected raw samples (.npy, or one number per line)")
    if path.suffix == ".npy":
        x = np.load(path, allow_pickle=False)
    else:
        try:
            x = np.array([float(line) for line in path.read_text().split() if line], np.float64)
        except ValueError as e:
            raise DataError(f"{path}: {e}; expected one number per line") from None
    return dsp_spec.dsp.check_signal(np.ravel(x) if x.ndim == 2 and 1 in x.shape else x, str(path))


WRITERS = {"classify": "prognos vibration", "anomaly": "prognos vibration-anomaly"}


def vibration_stream(bundle: Bundle, samples, task: str = "classify", batch: int = 64, shaft_hz=None) -> list[dict]:
    """One output dict per full window of `samples` at the bundle's DspSpec window and hop."""
    if bundle.dsp is None or bundle.manifest["task"] != task:
        raise BundleError(
            f"{bundle.path}: task {bundle.manifest['task']!r}"
            f"{'' if bundle.dsp is not None else ' without a DspSpec'}; expected a {task!r} bundle "
            f"written by `{WRITERS[task]}`"
        )
    spec = bundle.dsp
    frames = dsp_spec.windows(spec, samples)
    out = []
    for i in range(0, len(frames), batch):
        x = dsp_spec.apply_many(spec, frames[i : i + batch], shaft_hz)
        raw = bundle.backend.run(x).reshape(len(x), -1)
        for j, f in enumerate(OUTPUTS[task](bundle, raw, x)):
            out.append({"window": i + j, "start": (i + j) * spec.hop, **f})
    return out
