"""Model hot-swap: a new bundle in a watched folder (polling file times, no inotify) or a SIGHUP.

A candidate is verified before it can replace the running model: manifest schema and sha256 of the
model file (`Bundle`), its signature by a trusted key when the service has a `signing.Trust`, the same
input spec as the running bundle (features and window: the asset rings hold raw rows of those features;
for a vibration bundle the same task, sample rate, window and hop), and a smoke inference on one window
that must return a finite value. The engine is flushed with the old model and the new one is used from the next window
on; a refused bundle is logged and counted, and the old one keeps running. A bundle being copied in
is usually refused once (sha256 mismatch) and retried when its files change again. SIGHUP retries
the newest bundle of the folder (or, without a watched folder, reloads the configured bundle path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.errors import BundleError, PrognosError
from prognos.edge_runtime.stream import StreamEngine, check_compatible
from prognos.edge_runtime.vib_service import verify_dsp


def verify(path, running: Bundle, num_threads: int = 1, trust=None, shaft_hz=None) -> Bundle:
    """Load and check a candidate bundle against the running one; raises BundleError."""
    new = Bundle(path, num_threads=num_threads, trust=trust)
    if running.dsp is not None:  # a vibration bundle: same raw stream framing, one window runs
        return verify_dsp(new, running, shaft_hz)
    check_compatible(running, new)
    pre = new.preprocessor
    y = np.asarray(new.predict(np.zeros((1, pre.window, pre.width), np.float32)))
    if y.shape != (1,) or not np.all(np.isfinite(y)):
        raise BundleError(f"{path}: smoke inference returned {y!r}; expected one finite value")
    return new


class BundleWatcher:
    """Polls `folder` (one bundle folder, or a folder of bundle folders) for a changed newest bundle."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._tried = None  # (path, signature) of the last candidate we acted on
        self._tried = self._newest()

    def _newest(self):
        dirs = (
            [self.folder]
            if (self.folder / "manifest.json").is_file()
            else [d for d in self._subdirs() if (d / "manifest.json").is_file()]
        )
        best = None
        for d in dirs:
            try:
                # ctime, not mtime: `cp -a` and `rsync -a` keep old mtimes, but every write or copy sets ctime
                sig = max((f.stat().st_ctime_ns, f.name, f.stat().st_size) for f in d.iterdir() if f.is_file())
            except (OSError, ValueError):
                continue
            if best is None or sig > best[1]:
                best = (d, sig)
        return best

    def _subdirs(self):
        try:
            return [d for d in self.folder.iterdir() if d.is_dir()]
        except OSError:
            return []

    def poll(self, force: bool = False) -> Path | None:
        """The newest bundle folder if it changed since the last call (or `force`), else None."""
        newest = self._newest()
        if newest is None or (newest == self._tried and not force):
            return None
        self._tried = newest
        return newest[0]


def try_swap(engine: StreamEngine, path, log, num_threads: int = 1, trust=None) -> bool:
    """Verify `path` and swap it into `engine` between windows; False (old model kept) if refused."""
    if path is None:
        return False
    try:
        new = verify(path, engine.bundle, num_threads, trust, getattr(engine, "shaft_hz", None))
    except PrognosError as e:
        engine.stats.swaps["refused"] += 1
        log(f"prognos-edge: bundle {path} refused, keeping {engine.bundle.sha256[:12]}: {e}")
        return False
    if new.sha256 == engine.bundle.sha256:
        log(f"prognos-edge: bundle {path} is the running model ({new.sha256[:12]}); nothing to swap")
        return False
    old = engine.bundle.sha256
    log_signer(new, trust, log)
    engine.swap(new)
    engine.stats.swaps["ok"] += 1
    log(f"prognos-edge: swapped model {old[:12]} -> {new.sha256[:12]} from {path}")
    return True


def log_signer(bundle: Bundle, trust, log) -> None:
    """One line on how `bundle` was authenticated; loud when it was not."""
    if trust is None or not trust.checks:
        log(f"prognos-edge: WARNING: bundle {bundle.path}: signature NOT checked (no trusted_keys configured)")
    elif bundle.signer is None:
        log(
            f"prognos-edge: WARNING: bundle {bundle.path} is UNSIGNED and accepted only because allow_unsigned = "
            "true (development mode; never on a production device)"
        )
    else:
        log(f"prognos-edge: bundle {bundle.path}: signature of trusted key {bundle.signer} verified")
