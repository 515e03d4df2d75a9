"""prognos edge runtime: numpy plus one inference backend (ai-edge-litert or onnxruntime).

Nothing in this package imports TensorFlow. Feature code that must be identical in training and on
the device (normalization, windowing) lives here, and `pipeline` imports it from here.
"""

from prognos.edge_runtime.errors import BundleError, DataError, PrognosError, RowError

__all__ = ["BundleError", "DataError", "PrognosError", "RowError"]
