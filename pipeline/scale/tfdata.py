"""tf.data input pipelines over a `WindowIndex`: windows are gathered per batch, never materialized.

The dataset elements are window *end indices* (8 bytes each); a batched map gathers the (B, window, F)
windows from the normalized per-row array, so memory is the raw arrays plus a few batches in flight,
whatever the fleet size. Two shapes of pipeline:

- `window_dataset`: finite, every window once in index order (validation, prediction); it yields
  exactly the windows and labels of `pipeline.dataset.training_windows`.
- `training_stream`: endless full batches; epoch e is a fresh permutation of all windows, stateless
  and seeded by (seed, e) (`tf.random.experimental.stateless_shuffle`: a global shuffle at 8 bytes
  per window, where `Dataset.shuffle` would buffer one tensor per window, ~170 bytes each, and run
  4x slower). Input pipeline i of n keeps every n-th window of each permutation, so workers see
  disjoint shards that change every epoch, and drops its last partial batch (a different random
  remainder each epoch). Explicit sharding: no auto-shard graph rewrite, which would serialize the
  captured arrays into the dataset graph and make every worker gather every batch.

No `cache()`: the map is a gather from memory, and caching its output would store exactly the window
tensor this module exists to avoid. The map runs with AUTOTUNE parallelism; the prefetch depth is a
fixed PREFETCH batches, because an AUTOTUNE prefetch buffer grew to hundreds of MB on a busy 2-core
machine (it tunes to the observed latency) without streaming any faster.
"""

from __future__ import annotations

import numpy as np

from prognos.edge_runtime.errors import DataError
from prognos.pipeline.data.dataset import WindowIndex

PREFETCH = 4  # batches ready ahead of the consumer (double buffering plus slack for step jitter)


def _tensor(a: np.ndarray):
    """A tf.Tensor sharing `a`'s memory when it is 64-byte aligned (DLPack, no copy), else a copy."""
    from prognos.models.kerasapi import tf

    if a.size and a.flags.c_contiguous and a.ctypes.data % 64 == 0:
        return tf.experimental.dlpack.from_dlpack(a.__dlpack__())
    return tf.constant(a)


def _options(shard_policy: str):
    """No static graph optimizations: they serialize the dataset graph, copying the captured arrays
    (the pipelines below are already parallel and prefetched); `shard_policy` for tf.distribute."""
    from prognos.models.kerasapi import tf

    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    options.experimental_distribute.auto_shard_policy = getattr(tf.data.experimental.AutoShardPolicy, shard_policy)
    return options


def _gather(index: WindowIndex):
    """A batched map: window end indices (B,) -> (windows (B, window, F), labels (B,))."""
    from prognos.models.kerasapi import tf

    z, rul = _tensor(index.z), _tensor(index.rul)
    offsets = tf.range(1 - index.window, 1, dtype=tf.int64)

    def gather(ends):
        return tf.gather(z, ends[:, None] + offsets), tf.gather(rul, ends)

    return gather


def window_dataset(index: WindowIndex, batch_size: int):
    """Finite and ordered: (windows, labels) batches of every window once, as `training_windows`."""
    from prognos.models.kerasapi import tf

    ds = tf.data.Dataset.from_tensor_slices(index.ends).batch(batch_size)
    ds = ds.map(_gather(index), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # Under MultiWorkerMirroredStrategy Keras shards this by batch elements (each worker its part).
    return ds.prefetch(PREFETCH).with_options(_options("DATA"))


def training_stream(
    index: WindowIndex, batch_size: int, seed: int, shard: tuple[int, int] = (0, 1), noise: float = 0.0
):
    """Endless shuffled (windows, labels) batches; `shard` = (pipeline id, pipeline count).

    `noise` > 0: Gaussian noise of that std is added to every (normalized) training window, drawn
    from a stateless seed per batch, so a run is reproducible (augmentation; never on validation).
    """
    from prognos.models.kerasapi import tf

    pipeline_id, n_pipelines = shard
    ends = _tensor(index.ends)
    per_epoch = len(range(pipeline_id, len(index), n_pipelines)) // batch_size
    if per_epoch == 0:
        raise DataError(
            f"{len(index)} training windows over {n_pipelines} input pipeline(s) make no full batch of "
            f"{batch_size} windows; lower train.batch_size (it is per replica)"
        )

    def batches(epoch):  # (per_epoch, batch_size) window ends: the epoch's permutation, this shard
        perm = tf.random.experimental.stateless_shuffle(ends, seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.reshape(perm[pipeline_id::n_pipelines][: per_epoch * batch_size], (per_epoch, batch_size))

    ds = tf.data.Dataset.counter().map(batches).flat_map(tf.data.Dataset.from_tensor_slices)
    ds = ds.map(_gather(index), num_parallel_calls=tf.data.AUTOTUNE)
    if noise:

        def jitter(i, batch):
            x, y = batch
            key = tf.stack([tf.constant(seed * 65536 + pipeline_id, tf.int64), i])
            return x + noise * tf.random.stateless_normal(tf.shape(x), seed=key), y

        ds = ds.enumerate().map(jitter, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(PREFETCH).with_options(_options("OFF"))


def distributed_training_stream(strategy, index: WindowIndex, global_batch: int, seed: int, noise: float = 0.0):
    """`training_stream` per input pipeline (one per worker), batched per replica, for `strategy`."""

    def make(ctx):
        return training_stream(
            index,
            ctx.get_per_replica_batch_size(global_batch),
            seed,
            (ctx.input_pipeline_id, ctx.num_input_pipelines),
            noise,
        )

    return strategy.distribute_datasets_from_function(make)


def steps_per_epoch(index: WindowIndex, global_batch: int) -> int:
    """Steps of one pass over the windows, less the last partial global batch."""
    return max(1, len(index) // global_batch)


def predict(model, index: WindowIndex, batch_size: int = 1024) -> np.ndarray:
    """Model outputs for every window of `index`, in index order: (N, outputs)."""
    return model.predict(window_dataset(index, batch_size).map(lambda x, y: x), verbose=0)
