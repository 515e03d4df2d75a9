"""The one place that chooses the Keras implementation.

tfmot 0.8.1 wraps only tf_keras (Keras 2) models, so the project runs on tf_keras. The environment
variable must be set before TensorFlow is first imported; every module imports `keras` and `tf`
from here, so switching to Keras 3 later is a change to this file only.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep CPU-feature banners out of progress output

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf"]


def load_tfmot():
    """tensorflow_model_optimization, imported only after the Keras choice above (it imports TF itself)."""
    import tensorflow_model_optimization

    return tensorflow_model_optimization
