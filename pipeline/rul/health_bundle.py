"""The `anomaly` bundle of the health-monitoring path (pipeline.rul.health): rows in, alarms out.

The manifest carries the row Preprocessor (regimes included) the autoencoder was fitted with, the
threshold measured on the bundle's own held-out healthy scores (an int8 reconstruction is coarser
than Keras'), and the alert rule the lead times were measured with (k of the last n windows above
the threshold), so `prognos-edge predict` / `serve` raise the same alarms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prognos.edge_runtime.dsp import reconstruction_mse

FORMATS = ("tflite_fp32",)


def export_health_bundle(net, pre, xt: np.ndarray, xc: np.ndarray, cfg, run_dir: Path) -> Path:
    """Write RUN/bundles/<format> per format and RUN/bundles/best (the first); returns best."""
    from prognos.edge_runtime.backends import open_backend
    from prognos.export.bundle import write_bundle
    from prognos.export.formats import get_formats
    from prognos.pipeline.rul.recipe import copy_best

    for fmt in get_formats(list(FORMATS)):
        data = fmt.write(net, xt[:256] if fmt.quantized else None)
        backend = open_backend(data, fmt.suffix, name=fmt.name)
        threshold = float(np.quantile(reconstruction_mse(xc, backend.run(np.asarray(xc, np.float32))), cfg.quantile))
        rule = {
            "field": "score",
            "op": ">",
            "threshold": threshold,
            "k": cfg.alarm_k,
            "n": cfg.alarm_n,
            "name": "reconstruction error above the healthy threshold",
        }
        write_bundle(
            run_dir / "bundles" / fmt.name,
            data,
            fmt,
            None,
            {},
            {"run": str(run_dir), "model": "dense_ae"},
            task="anomaly",
            preprocessing=pre.to_dict(),
            postprocessing={
                "score": "reconstruction_mse",
                "threshold": threshold,
                "quantile": cfg.quantile,
                "doc": "score = mean((x - model(x))^2) over the normalized window; anomalous "
                f"if score > threshold (the {cfg.quantile} quantile of held-out "
                "healthy windows)",
            },
            alerts={"rules": [rule]},
        )
    return copy_best(run_dir, FORMATS[0])
