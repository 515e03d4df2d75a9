"""`prognos-edge soak`: a long stream with injected faults through the real service path, RSS over time.

A generator subprocess writes `rows` synthetic rows for `assets` assets (text: NASA text, or a CSV
with the bundle's columns for a named-column bundle; or JSON lines; edge_runtime.synthetic) into a pipe, a fraction `malformed` of them broken in a known way (garbage, short row, NaN,
a word for a number, wrong JSON type, missing sensor, duplicate or out-of-order cycle, over-long
line), and reports how many of each it injected. This process runs the service on that pipe with
predictions serialized to /dev/null, samples its own RSS every `every` seconds, and checks: no
crash, every injected fault counted under its reason, every other row predicted, and RSS after
warm-up (the first 20 % of rows) within `max_growth_mb`.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import threading
import time
from collections import Counter

from prognos.edge_runtime.synthetic import RowMaker
from prognos.edge_runtime.timing import rss_mb

TEXT_FAULTS = {
    "garbage": "malformed",
    "short": "malformed",
    "nan": "non_finite",
    "word": "malformed",
    "dup": "duplicate_cycle",
    "old": "out_of_order",
    "long": "too_long",
}
JSON_FAULTS = {
    "garbage": "malformed",
    "word": "wrong_type",
    "missing": "missing_sensor",
    "nan": "non_finite",
    "dup": "duplicate_cycle",
    "old": "out_of_order",
    "long": "too_long",
}


def generate(out, preprocessing: dict, rows: int, assets: int, malformed: float, fmt: str, seed: int = 0) -> Counter:
    """Write the stream (edge_runtime.synthetic: rows for the bundle of `preprocessing`, the manifest's) to
    the binary file `out`; returns the injected faults by expected reason."""
    rng = random.Random(seed)
    maker = RowMaker(preprocessing, rng)
    faults = faults_for(maker, fmt)
    kinds, injected, cycle, buf = list(faults), Counter(), [0] * (assets + 1), maker.header() if fmt == "text" else []
    for i in range(rows):
        unit = i % assets + 1
        values = maker.pool[i % 1024]
        kind = rng.choice(kinds) if rng.random() < malformed and cycle[unit] > 1 else None
        c = cycle[unit] if kind == "dup" else cycle[unit] - 1 if kind == "old" else cycle[unit] + 1
        if kind not in ("dup", "old"):
            cycle[unit] = c if kind is None else cycle[unit]
        buf.append(_line(fmt, kind, unit, c, values, maker))
        if kind:
            injected[faults[kind]] += 1
        if len(buf) >= 512:
            out.write("".join(buf).encode())
            buf.clear()
    out.write("".join(buf).encode())
    return injected


def faults_for(maker: RowMaker, fmt: str) -> dict:
    """The faults to inject: for a bundle on timestamps a repeated time replaces the row (the training
    rule) and a missing value is filled, so neither is a rejection there."""
    faults = dict(TEXT_FAULTS if fmt == "text" else JSON_FAULTS)
    if maker.rule is not None:
        faults.pop("dup")
        faults.pop("missing", None)
    return faults


def _line(fmt: str, kind, unit: int, c: int, values: dict, maker: RowMaker) -> str:
    if kind == "garbage":
        return "#### not a row ####\n"
    if kind == "long":
        return "9" * 70_000 + "\n"
    f = maker.features[unit % len(maker.features)]
    if fmt == "text":
        v = dict(values)
        if kind in ("nan", "word"):  # "inf" in a CSV: an empty-like "nan" is a missing value there
            v[f] = "abc" if kind == "word" else "inf" if maker.named else "nan"
        parts = maker.text(unit, c, v)
        return (" " if not maker.named else ",").join(parts[:-3] if kind == "short" else parts) + "\n"
    obj = maker.json(unit, c, values)
    if kind == "word":
        obj[f] = str(obj[f])
    elif kind == "missing":
        del obj[f]
    elif kind == "nan":
        obj[f] = math.nan
    return json.dumps(obj) + "\n"


def soak(
    bundle_dir,
    rows: int,
    malformed: float,
    assets: int = 100,
    fmt: str = "text",
    every: float = 1.0,
    max_growth_mb: float = 5.0,
    seed: int = 0,
) -> dict:
    from prognos.edge_runtime.config import ServiceConfig
    from prognos.edge_runtime.service import Service

    cfg = ServiceConfig(bundle=str(bundle_dir), predictions="/dev/null", alerts="/dev/null", log_rejected=0)
    service = Service(cfg, log=lambda msg: None)
    gen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prognos.edge_runtime.soak",
            str(bundle_dir),
            str(rows),
            str(malformed),
            str(assets),
            fmt,
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    service.source = gen.stdout
    samples, stop = [], threading.Event()

    def sample():
        while not stop.wait(every):
            samples.append((service.engine.stats.rows_in, round(rss_mb(), 2)))

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    service.run()
    seconds = time.perf_counter() - t0
    stop.set()
    samples.append((service.engine.stats.rows_in, round(rss_mb(), 2)))
    injected = Counter(json.loads(gen.communicate(timeout=60)[1].decode().strip().splitlines()[-1]))
    return _report(service.engine.stats, injected, samples, rows, seconds, max_growth_mb)


def _report(stats, injected: Counter, samples, rows: int, seconds: float, max_growth_mb: float) -> dict:
    warm = [rss for n, rss in samples if n >= 0.2 * rows] or [samples[-1][1]]
    growth = round(max(warm) - min(warm), 2)
    counted = dict(stats.rejected) == dict(injected)
    lost = rows - sum(injected.values()) - stats.predictions
    return {
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "predictions": stats.predictions,
        "rejected": dict(stats.rejected),
        "injected": dict(injected),
        "every_rejection_counted": counted,
        "accepted_rows_lost": lost,
        "rss_mb": samples,
        "rss_after_warmup_min_max_mb": [min(warm), max(warm)],
        "rss_growth_after_warmup_mb": growth,
        "ok": counted and lost == 0 and growth <= max_growth_mb,
    }


def _generator_main(argv) -> None:
    from prognos.edge_runtime.bundle import read_manifest

    bundle_dir, rows, malformed, assets, fmt, seed = argv
    pre = read_manifest(bundle_dir)["preprocessing"]
    injected = generate(sys.stdout.buffer, pre, int(rows), int(assets), float(malformed), fmt, int(seed))
    sys.stdout.flush()
    print(json.dumps(injected), file=sys.stderr)


if __name__ == "__main__":
    _generator_main(sys.argv[1:])
