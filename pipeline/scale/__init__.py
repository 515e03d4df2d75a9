"""Training at scale: tf.distribute strategies, multi-worker launch, tf.data streaming."""
