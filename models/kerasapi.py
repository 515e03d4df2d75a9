"""The one place that chooses the Keras implementation and imports TensorFlow.

tfmot 0.8.1 wraps only tf_keras (Keras 2) models, so the project runs on tf_keras. The environment
variable must be set before TensorFlow is first imported; every module imports `keras` and `tf`
from here, so switching to Keras 3 later is a change to this file only.
"""

import contextlib
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep CPU-feature banners out of progress output


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what TensorFlow's C++ writes to fd 2 while it is imported ("All log messages before
    absl::InitializeLog() ...", oneDNN and CUDA-stub notes): absl logs before it is initialized ignore
    TF_CPP_MIN_LOG_LEVEL (abseil/abseil-cpp#1718, tensorflow/tensorflow#102212). PROGNOS_VERBOSE=1 keeps
    them. Python exceptions raised by the import still propagate."""
    if os.environ.get("PROGNOS_VERBOSE") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _quiet_native_stderr():
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf"]


def load_tfmot():
    """tensorflow_model_optimization, imported only after the Keras choice above (it imports TF itself)."""
    import tensorflow_model_optimization

    return tensorflow_model_optimization
