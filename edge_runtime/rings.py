"""Ring buffers of many assets in one array, updated for a whole tick of rows with numpy.

Each asset owns a slot of a (slots, 2 x window, F) float32 array: its last `window` rows stored twice,
so that its latest window is one contiguous slice; the first row fills the whole ring, which is exactly
the "edge" front padding of `Preprocessor.last_window`. A tick of rows of distinct assets is written
with two fancy-indexed assignments and its windows gathered with one, instead of a Python loop of
small numpy calls per row (the stream's per-row cost). Slots grow by doubling up to the bound, and a
forgotten asset's slot is reused.

Per slot: `seen` (rows stored), `ema` (float64 smoothing state, as in training) and `unknown_at`
(`seen` count of the last row in an unknown operating regime; NEVER when none).
"""

from __future__ import annotations

import numpy as np

NEVER = -(1 << 40)  # unknown_at of a slot that never saw an unknown regime: seen - NEVER >= any window


class Rings:
    def __init__(self, window: int, width: int, capacity: int = 64):
        self.window, self.width = window, width
        self.data = np.empty((capacity, 2 * window, width), np.float32)
        self.seen = np.zeros(capacity, np.int64)
        self.ema = np.zeros((capacity, width), np.float64)
        self.unknown_at = np.full(capacity, NEVER, np.int64)
        self.last_t: list = [None] * capacity
        self._free = list(range(capacity - 1, -1, -1))
        self._view = self._windows_view()

    def allocate(self) -> int:
        """A free slot (the pool doubles when full); its counters reset."""
        if not self._free:
            self._grow()
        slot = self._free.pop()
        self.seen[slot], self.unknown_at[slot], self.last_t[slot] = 0, NEVER, None
        return slot

    def release(self, slot: int) -> None:
        self._free.append(slot)

    def _grow(self) -> None:
        n = len(self.seen)
        self.data = np.concatenate([self.data, np.empty_like(self.data)])
        self.seen = np.concatenate([self.seen, np.zeros(n, np.int64)])
        self.ema = np.concatenate([self.ema, np.zeros_like(self.ema)])
        self.unknown_at = np.concatenate([self.unknown_at, np.full(n, NEVER, np.int64)])
        self.last_t += [None] * n
        self._free = list(range(2 * n - 1, n - 1, -1))
        self._view = self._windows_view()

    def _windows_view(self) -> np.ndarray:
        """(slots, window + 1, window x F) view: [s, j] is slot s's rows j .. j + window, flattened."""
        flat = self.data.reshape(len(self.data), -1)
        return np.lib.stride_tricks.sliding_window_view(flat, self.window * self.width, axis=1)[:, :: self.width]

    def smooth(self, pre, slots: np.ndarray, rows: np.ndarray, new: np.ndarray) -> np.ndarray:
        """s_t = α x_t + (1 - α) s_{t-1} per slot (s_1 = x_1), by `Preprocessor.smooth_step`; float64."""
        s = pre.smooth_step(self.ema[slots], rows)
        s[new] = rows[new]
        self.ema[slots] = s
        return s

    def append(self, slots: np.ndarray, rows: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Store one row per slot (distinct slots); returns each slot's ring position before the row."""
        if new.any():
            self.data[slots[new]] = rows[new][:, None, :]
        w = self.window
        i = self.seen[slots] % w
        self.data[slots, i] = rows
        self.data[slots, i + w] = rows
        self.seen[slots] += 1
        return i

    def windows(self, slots: np.ndarray, i: np.ndarray, out: np.ndarray) -> None:
        """The latest window (oldest row first) of each slot, given its `append` position, into `out`."""
        out.reshape(len(out), self.window * self.width)[:] = self._view[
            slots, i + 1
        ]  # one gather of contiguous windows
