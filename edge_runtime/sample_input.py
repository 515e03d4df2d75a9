"""Raw samples from a file, FIFO or stdin for the vibration service: .npy, raw float32 LE, WAV, JSON lines.

`sample_items(src, cfg, rate, stopping)` reads a binary file object in chunks as bytes arrive and
yields service queue items: ("blocks", [Block]) with one block per chunk (seq 0, 1, 2, ...: a file
has no gaps), or ("lines", [...]) for JSON-lines blocks. The format comes from samples.format or the
file suffix (.npy, .wav, .jsonl; anything else is raw float32 little-endian). Headers are parsed
from the first bytes: .npy with numpy's own header reader (float or int dtype, 1-D or (n, 1)), WAV
with the stdlib `wave` module (8/16/32-bit PCM, first channel, its own rate; scaled to [-1, 1)).
With samples.follow a regular file is read on as it grows (polled, like `tail -f`) until the
service stops (not JSON lines: those are read to the end); a FIFO or stdin ends when its writer
closes it. A JSON line may be as long as samples.max_block_bytes.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prognos.edge_runtime.errors import DataError
from prognos.edge_runtime.feed import read_line_batches
from prognos.edge_runtime.samples import Block, SampleConfig

CHUNK = 65536  # bytes per read: 16,384 float32 samples, 1.4 s at 12 kHz
POLL_SECONDS = 0.2  # a followed file at its end is checked for growth this often
MAX_HEADER = 65536  # a .npy or WAV header not complete within this many bytes is refused
SUFFIXES = {".npy": "npy", ".wav": "wav", ".jsonl": "jsonl"}
WAV_PCM = {1: ("u1", 128.0, 128.0), 2: ("<i2", 0.0, 32768.0), 4: ("<i4", 0.0, 2.0**31)}  # width: dtype, offset, scale


@dataclass
class Layout:
    """How the bytes after a header become samples."""

    offset: int  # header bytes
    dtype: np.dtype
    channels: int = 1
    rate: float = 0.0  # 0: the configured or the bundle's rate
    zero: float = 0.0
    scale: float = 1.0

    def decode(self, data: bytes) -> tuple[np.ndarray, bytes]:
        """Samples of the whole frames in `data` (first channel, float32) and the left-over bytes."""
        frame = self.dtype.itemsize * self.channels
        whole = len(data) - len(data) % frame
        x = np.frombuffer(data[:whole], self.dtype).reshape(-1, self.channels)[:, 0]
        if self.zero or self.scale != 1.0:
            x = (x.astype(np.float64) - self.zero) / self.scale
        return x.astype(np.float32), data[whole:]


def _npy_layout(buf: bytes) -> Layout | None:
    if len(buf) < 12:
        return None
    if buf[:6] != b"\x93NUMPY":
        raise DataError("input: not a .npy stream (no \\x93NUMPY magic); set samples.format")
    size = 2 if buf[6] == 1 else 4
    end = 8 + size + int.from_bytes(buf[8 : 8 + size], "little")
    if len(buf) < end:
        return None
    f = io.BytesIO(buf[:end])
    major, _ = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(f)
    if dtype.kind not in "fi" or not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise DataError(f"input: .npy of dtype {dtype} and shape {shape}; expected 1-D (or (n, 1)) numbers")
    return Layout(end, dtype)


def _wav_layout(buf: bytes) -> Layout | None:
    f = io.BytesIO(buf)
    try:
        with wave.open(f) as w:
            offset, width, channels, rate = f.tell(), w.getsampwidth(), w.getnchannels(), w.getframerate()
    except (EOFError, wave.Error) as e:
        if len(buf) < MAX_HEADER and isinstance(e, EOFError):
            return None
        raise DataError(f"input: not a PCM WAV file the stdlib wave module reads ({e})") from None
    if width not in WAV_PCM:
        raise DataError(f"input: WAV of {8 * width}-bit samples; expected 8, 16 or 32-bit PCM")
    dtype, zero, scale = WAV_PCM[width]
    return Layout(offset, np.dtype(dtype), channels, float(rate), zero, scale)


def _layout(fmt: str, buf: bytes) -> Layout | None:
    """The layout once the header is complete, else None (read more)."""
    if fmt == "f32":
        return Layout(0, np.dtype("<f4"))
    layout = _npy_layout(buf) if fmt == "npy" else _wav_layout(buf)
    if layout is None and len(buf) >= MAX_HEADER:
        raise DataError(f"input: no complete {fmt} header in the first {MAX_HEADER} bytes")
    return layout


def _chunks(src, follow: bool, stopping):
    while True:
        data = src.read1(CHUNK)
        if data:
            yield data
        elif not follow or stopping is None or stopping.wait(POLL_SECONDS):
            return


def format_of(src, cfg: SampleConfig) -> str:
    return cfg.format or SUFFIXES.get(Path(str(getattr(src, "name", ""))).suffix.lower(), "f32")


def sample_items(src, cfg: SampleConfig, bundle_rate: float, stopping=None):
    """Queue items from a binary file object (see the module docstring); raises DataError on a bad header."""
    fmt = format_of(src, cfg)
    if fmt == "jsonl":
        lines = read_line_batches(src.fileno(), max_line=cfg.max_block_bytes, chunk=CHUNK)
        yield from (("lines", batch) for batch in lines)
        return
    name = getattr(src, "name", "")
    asset = cfg.asset or (Path(name).stem if isinstance(name, str) and not name.startswith("<") else "stdin")
    head, rest, layout, seq = b"", b"", None, 0
    for data in _chunks(src, cfg.follow, stopping):
        if layout is None:
            head += data
            layout = _layout(fmt, head)
            if layout is None:
                continue
            data = head[layout.offset :]
        x, rest = layout.decode(rest + data)
        if len(x):
            yield "blocks", [Block(asset, seq, layout.rate or cfg.rate_hz or bundle_rate, x)]
            seq += 1
