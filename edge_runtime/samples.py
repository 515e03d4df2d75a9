"""Raw sample blocks for the vibration service: decode, validate, and frame per asset into model windows.

A block is one message of samples of one asset: a JSON object
`{"asset": str, "seq": int, "rate_hz": number, "samples": [numbers]}` or the binary form
(docs/vibration-service.md): a fixed little-endian header `HEADER` (magic b"PGVB", version, dtype
code, asset id length, seq, rate, sample count), the asset id in UTF-8, then float32 LE samples.
The payload size is checked before anything is decoded, so a 100 MB block costs no parsing.

`AssetFramer` keeps one asset's samples since its next window start (a bounded numpy buffer: fewer
than `window` samples between blocks) and cuts windows at the DspSpec's window and hop. A gap in
`seq` or a rate change resets it: samples on both sides of a discontinuity never share a window.
Every rejection raises `RowError` with a reason from `REASONS`.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np
from prognos.edge_runtime.errors import ConfigError, RowError

MAGIC = b"PGVB"
VERSION = 1
DTYPES = {1: "<f4"}  # dtype code -> numpy dtype of the samples (float32 little-endian)
HEADER = struct.Struct("<4sBBHQdI")  # magic, version, dtype, asset length, seq, rate_hz, n samples: 28 bytes
REASONS = (
    "too_large",
    "malformed",
    "bad_version",
    "bad_dtype",
    "bad_length",
    "empty",
    "non_finite",
    "bad_asset",
    "rate_mismatch",
    "out_of_order",
)
_BAD_ASSET_CHARS = set("+#\x00")


@dataclass
class SampleConfig:
    """The [samples] section: how raw sample input is read and framed (vibration bundles only)."""

    asset: str = ""  # asset id of a file or stdin input; "" = the file's stem, or "stdin"
    format: str = ""  # file/stdin: f32 (raw float32 LE), npy, wav, jsonl (JSON blocks); "" = from the suffix
    rate_hz: float = 0.0  # rate of f32/npy input; 0 = the bundle's DspSpec.sample_rate
    follow: bool = False  # keep reading a file as it grows (until SIGTERM), like `tail -f`
    resample: bool = False  # resample blocks at another rate to the bundle's (Fourier method), else reject them
    max_block_bytes: int = 4 << 20  # larger payloads are rejected unread (a 12 kHz second is 48 KB in binary)
    max_asset_len: int = 128  # bytes of an asset id (it becomes an MQTT topic level)
    shaft_hz: float | None = None  # shaft speed for order-normalized bundles (DspSpec.samples_per_rev > 0)
    bearing: str | None = None  # fault_orders bundles: this machine's bearing (name, TOML file or FILE.toml:NAME)

    def __post_init__(self):
        if self.format not in ("", "f32", "npy", "wav", "jsonl"):
            raise ConfigError(f'samples: format {self.format!r}; expected f32, npy, wav, jsonl or ""')
        for name in ("max_block_bytes", "max_asset_len"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"samples: {name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.rate_hz, (int, float)) or not math.isfinite(self.rate_hz) or self.rate_hz < 0:
            raise ConfigError(f"samples: rate_hz must be a number >= 0, got {self.rate_hz!r}")
        if self.shaft_hz is not None:
            check_shaft_hz(self.shaft_hz, "samples: shaft_hz")
        if self.bearing is not None and (not isinstance(self.bearing, str) or not self.bearing):
            raise ConfigError(
                f"samples: bearing {self.bearing!r}; expected a name (6205, 6203), a TOML file or FILE.toml:NAME"
            )


def check_shaft_hz(value, where: str) -> float:
    """A shaft speed in Hz: a finite number > 0 (else ConfigError naming `where`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where} must be a shaft speed in Hz (a number > 0), got {value!r}")
    return float(value)


@dataclass
class Block:
    asset: str
    seq: int
    rate_hz: float
    samples: np.ndarray  # 1-D float32


def check_asset(asset, where: str, max_len: int) -> str:
    if not isinstance(asset, str) or not asset:
        raise RowError("bad_asset", f"{where}: asset {asset!r}; expected a non-empty string")
    if len(asset.encode()) > max_len or _BAD_ASSET_CHARS & set(asset):
        raise RowError(
            "bad_asset",
            f"{where}: asset {asset[:40]!r}{'...' if len(asset) > 40 else ''}; expected "
            f"at most {max_len} bytes without the MQTT wildcards + and #",
        )
    return asset


def check_samples(x: np.ndarray, where: str) -> np.ndarray:
    if len(x) == 0:
        raise RowError("empty", f"{where}: no samples")
    if not np.isfinite(x).all():
        raise RowError("non_finite", f"{where}: NaN or infinite samples; the block is dropped")
    return x


def decode(payload: bytes, where: str, max_bytes: int, max_asset_len: int = 128) -> Block:
    """One block from a JSON or binary payload (sniffed by the magic), every field checked."""
    if len(payload) > max_bytes:
        raise RowError("too_large", f"{where}: {len(payload)} bytes; limit {max_bytes} (samples.max_block_bytes)")
    if payload[:4] == MAGIC:
        return decode_binary(payload, where, max_asset_len)
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise RowError("malformed", f"{where}: neither a binary block (magic {MAGIC!r}) nor JSON ({e})") from None
    return block_from_obj(obj, where, max_asset_len)


def block_from_obj(obj, where: str, max_asset_len: int = 128) -> Block:
    """A block from a parsed JSON object {"asset", "seq", "rate_hz", "samples"}."""
    if not isinstance(obj, dict) or not {"asset", "seq", "rate_hz", "samples"} <= set(obj):
        raise RowError("malformed", f"{where}: expected an object with asset, seq, rate_hz and samples")
    asset = check_asset(obj["asset"], where, max_asset_len)
    seq, rate = obj["seq"], obj["rate_hz"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise RowError("malformed", f"{where}: seq {seq!r}; expected an integer >= 0")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0 or not math.isfinite(rate):
        raise RowError("malformed", f"{where}: rate_hz {rate!r}; expected a positive number")
    raw = obj["samples"]
    if not isinstance(raw, list) or not all(type(v) in (int, float) for v in raw):
        raise RowError("bad_dtype", f"{where}: samples must be a flat list of numbers")
    x = np.array(raw, np.float32)
    return Block(asset, seq, float(rate), check_samples(x, where))


def decode_binary(payload: bytes, where: str, max_asset_len: int = 128) -> Block:
    if len(payload) < HEADER.size:
        raise RowError("bad_length", f"{where}: {len(payload)} bytes, shorter than the {HEADER.size}-byte header")
    _, version, dtype, alen, seq, rate, n = HEADER.unpack_from(payload)
    if version != VERSION:
        raise RowError("bad_version", f"{where}: binary block version {version}; this runtime reads {VERSION}")
    if dtype not in DTYPES:
        raise RowError("bad_dtype", f"{where}: dtype code {dtype}; expected one of {sorted(DTYPES)} (1 = float32)")
    want = HEADER.size + alen + 4 * n
    if len(payload) != want:
        raise RowError(
            "bad_length",
            f"{where}: {len(payload)} bytes, but the header announces {alen} asset "
            f"bytes and {n} samples = {want} bytes",
        )
    try:
        asset = payload[HEADER.size : HEADER.size + alen].decode()
    except UnicodeDecodeError:
        raise RowError("bad_asset", f"{where}: asset id is not UTF-8") from None
    check_asset(asset, where, max_asset_len)
    if not rate > 0 or not math.isfinite(rate):
        raise RowError("malformed", f"{where}: rate_hz {rate!r}; expected a positive number")
    x = np.frombuffer(payload, DTYPES[dtype], n, HEADER.size + alen).astype(np.float32)
    return Block(asset, seq, rate, check_samples(x, where))


def encode_binary(asset: str, seq: int, rate_hz: float, samples) -> bytes:
    """The binary form of one block (what a sensor gateway publishes)."""
    a = asset.encode()
    x = np.ascontiguousarray(samples, "<f4")
    return HEADER.pack(MAGIC, VERSION, 1, len(a), seq, rate_hz, len(x)) + a + x.tobytes()


def encode_json(asset: str, seq: int, rate_hz: float, samples) -> bytes:
    return json.dumps(
        {"asset": asset, "seq": seq, "rate_hz": rate_hz, "samples": np.asarray(samples, np.float32).tolist()}
    ).encode()


class AssetFramer:
    """One asset's sample buffer and framing state; `push` returns the windows its samples complete."""

    __slots__ = ("buf", "hop", "next_seq", "received", "skip", "start", "window", "windows")

    def __init__(self, window: int, hop: int):
        self.window, self.hop = window, hop
        self.buf = np.zeros(0, np.float32)  # samples from `start` on (fewer than `window` between pushes)
        self.start = 0  # stream position (accepted samples of this asset) of buf[0]
        self.skip = 0  # samples to drop before the next window starts (hop > window)
        self.received = 0
        self.next_seq = None
        self.windows = 0

    def reset(self) -> None:
        """Forget buffered samples: the next window starts at the next accepted sample."""
        self.start, self.buf, self.skip = self.received, self.buf[:0], 0

    def push(self, x: np.ndarray) -> tuple[np.ndarray, list[int], int]:
        """Append samples; (windows (k, window) float32, their stream start positions, first window index)."""
        self.received += len(x)
        if self.skip:
            drop = min(self.skip, len(x))
            x, self.skip, self.start = x[drop:], self.skip - drop, self.start + drop
        data = np.concatenate([self.buf, x]) if len(self.buf) else x
        k = 0 if len(data) < self.window else (len(data) - self.window) // self.hop + 1
        first = self.windows
        frames = (
            np.lib.stride_tricks.sliding_window_view(data, self.window)[: k * self.hop : self.hop]
            if k
            else np.zeros((0, self.window), np.float32)
        )
        starts = [self.start + i * self.hop for i in range(k)]
        self.windows += k
        cut = k * self.hop
        if cut > len(data):
            self.skip, cut = cut - len(data), len(data)
        self.buf, self.start = data[cut:].copy(), self.start + cut
        return frames, starts, first
