"""Export: convert trained tf_keras models to TFLite / ONNX, check parity, write deployable bundles."""
