"""The table of a `prognos bench` result (report/bench.md, the HTML report), built from its JSON."""

from __future__ import annotations

from prognos.edge_runtime.tables import Table

COLUMNS = [
    "model",
    "format",
    "thr",
    "load ms",
    "p50 µs",
    "p90 µs",
    "p99 µs",
    "× Keras",
    "× ORT fp32",
    "windows/s",
    "fleet rows/s",
    "peak RSS MB",
    "size KB",
    "gzip KB",
    "val RMSE",
    "× bound",
    "TFLM",
]


def _f(v, fmt: str) -> str:
    if fmt == "ratio":  # 3 significant digits, no exponent
        fmt = ",.0f" if v is not None and v >= 100 else ".3g"
    return "–" if v is None else format(v, fmt)


def _row(r: dict) -> list[str]:
    head = [r["model"], r["format"], r["threads"]]
    if "error" in r:
        return head + [f"error: {r['error'][:80]}"] + [""] * 13
    rmse = (r.get("val") or {}).get("rmse")
    return head + [
        _f(r["load_ms"], ".1f"),
        _f(r["p50_us"], ".0f"),
        _f(r["p90_us"], ".0f"),
        _f(r["p99_us"], ".0f"),
        _f(r.get("vs_keras"), "ratio"),
        _f(r.get("vs_onnx_fp32"), "ratio"),
        _f(r["windows_per_s"], ",.0f"),
        _f(r.get("fleet_rows_per_s"), ",.0f"),
        _f(r["peak_rss_mb"], ".0f"),
        f"{r['size_bytes'] / 1024:.1f}",
        f"{r['gzip_bytes'] / 1024:.1f}",
        _f(rmse, ".3f"),
        _f(r.get("x_bound"), "ratio"),
        _tflm(r.get("tflm")),
    ]


def _tflm(check: dict | None) -> str:
    from prognos.export.tflm import summary

    return summary(check)[:60]


def _measured(p: dict) -> str:
    m = p.get("measured", {})
    low = [f"{k} {m[k] / 1e9:.1f}" for k in m if m[k] < p[k]]
    return f" (measured at this thread count: {', '.join(low)}; a busy machine)" if low else ""


def _peaks(result: dict) -> str:
    parts = []
    for t, p in result["peak_mac_per_s"].items():
        parts.append(
            f"{t} thread(s): "
            + (
                f"error {p['error']}"
                if "error" in p
                else f"fp32 {p['fp32'] / 1e9:.1f}, int8 {p['int8'] / 1e9:.1f} GMAC/s" + _measured(p)
            )
        )
    return "; ".join(parts)


def _bounds(result: dict) -> list[str]:
    lines = []
    for m in result["models"]:
        if m.get("macs"):
            r1 = result["peak_mac_per_s"].get(str(result["threads"][0]), {})
            fp = (
                f", bound at {result['threads'][0]} thread(s): fp32 {m['macs'] / r1['fp32'] * 1e6:.2f} µs, int8 "
                f"{m['macs'] / r1['int8'] * 1e6:.2f} µs"
                if "fp32" in r1
                else ""
            )
            lines.append(f"`{m['run']}`: {m['macs']:,} MACs per inference{fp}")
        else:
            lines.append(f"`{m['run']}`: MACs unknown ({m.get('macs_error')}), no bound")
    return lines


def table(result: dict) -> Table:
    m = result["machine"]
    runs = " ".join(f"--run {x['run']}" for x in result["models"])
    before = [
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}; {result['date']}, commit {result['commit']}; "
        f"`prognos bench {runs}` (min {result['min_seconds']} s per latency measurement)",
        "Peak MAC rate (best 256² / 512² matmul; fp32: numpy or onnxruntime, int8: onnxruntime MatMulInteger): "
        f"{_peaks(result)}",
        *_bounds(result),
        "p50/p90/p99: one window; × Keras / × ORT fp32: p50 ratio at the same thread count; windows/s: "
        "validation set in batches of 256; fleet rows/s: one call on 64 windows (one per asset), p50; "
        "× bound: p50 / (MACs ÷ peak MAC rate); TFLM: smallest TensorFlow Lite Micro arena and max "
        "|TFLM − LiteRT| in output steps (export.tflm).",
    ]
    out = Table(COLUMNS, "lllrrrrrrrrrrrrrl", before=before)
    for x in result["models"]:
        for r in x["rows"]:
            out.add(*_row(r))
    return out


def markdown_table(result: dict) -> str:
    return table(result).markdown()
