"""Where and how training runs: tf.distribute strategy, precision, XLA, batch and learning-rate scaling.

Strategies (`train.strategy`):
- default: one device (the first GPU if there is one, else the CPU);
- mirrored: synchronous data parallelism over the local GPUs (MirroredStrategy, NCCL all-reduce), or
  over the logical CPU devices when there is no GPU (how the tests run it);
- multiworker: MultiWorkerMirroredStrategy over the processes named in TF_CONFIG (collective ring or
  NCCL all-reduce); each worker runs the same command with its own TF_CONFIG task;
- auto: multiworker when TF_CONFIG names more than one task, mirrored when more than one GPU is
  visible, default otherwise.

Scaling rule: `train.batch_size` is per replica, so the global batch is batch_size x replicas and
each device keeps the memory footprint it has alone; the learning rate follows the linear scaling
rule (Goyal et al. 2017, "Accurate, Large Minibatch SGD": k times the batch, k times the rate), or
its square root (`lr_scaling = "sqrt"`, Krizhevsky 2014; often the safer choice for Adam), or none.

Mixed precision (Micikevicius et al. 2018): float16 compute with float32 variables, dynamic loss
scaling (tf_keras wraps the optimizer at compile) and float32 output layers (`models.heads`).
`auto` uses mixed_float16 when a GPU is visible, float32 otherwise. The model handed back after
training is a plain float32 copy outside any strategy, so evaluation and export never see a
distributed or mixed-precision model.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from prognos.edge_runtime.errors import ConfigError

STRATEGIES = ("auto", "default", "mirrored", "multiworker")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LR_SCALING = ("linear", "sqrt", "none")


def tf_config() -> dict:
    """The parsed TF_CONFIG environment variable ({} when unset)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"TF_CONFIG is not valid JSON ({e}); expected "
            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'
        ) from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("cluster", {}), dict):
        raise ConfigError(f"TF_CONFIG {raw!r}: expected an object with 'cluster' and 'task'")
    return cfg


def cluster_size() -> int:
    return sum(len(v) for v in tf_config().get("cluster", {}).values())


def task() -> tuple[str, int]:
    """This process's (task type, index) in TF_CONFIG; ("worker", 0) when there is no cluster."""
    t = tf_config().get("task", {})
    return t.get("type", "worker"), int(t.get("index", 0))


def is_chief() -> bool:
    """The task that writes the run's artifacts: "chief" if the cluster has one, else worker 0."""
    kind, index = task()
    has_chief = "chief" in tf_config().get("cluster", {})
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)


def artifact_dir(run_dir) -> Path:
    """The run folder for the chief; workers/<type>-<index>/ inside it for the other workers."""
    run_dir = Path(run_dir)
    if is_chief():
        return run_dir
    kind, index = task()
    return run_dir / "workers" / f"{kind}-{index}"


def scaled(batch_size: int, learning_rate: float, replicas: int, rule: str) -> tuple[int, float]:
    """(global batch, learning rate) for `replicas` replicas under scaling `rule`."""
    if rule not in LR_SCALING:
        raise ConfigError(f"train.lr_scaling {rule!r}; expected one of {', '.join(LR_SCALING)}")
    factor = {"linear": replicas, "sqrt": math.sqrt(replicas), "none": 1}[rule]
    return batch_size * replicas, learning_rate * factor


def resolve_name(name: str) -> str:
    """The concrete strategy for `name` ('auto' decided from TF_CONFIG and the visible GPUs)."""
    if name not in STRATEGIES:
        raise ConfigError(f"train.strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    if name != "auto":
        return name
    if cluster_size() > 1:
        return "multiworker"
    from prognos.models.kerasapi import tf

    return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"


@functools.cache
def get_strategy(name: str):
    """One strategy per process and resolved name (MultiWorkerMirroredStrategy can be created only
    once, and before any other TensorFlow work, so `plan` creates the strategy first)."""
    from prognos.models.kerasapi import tf

    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def resolve_precision(name: str) -> str:
    if name not in PRECISIONS:
        raise ConfigError(f"train.precision {name!r}; expected one of {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    from prognos.models.kerasapi import tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"


@dataclass
class Plan:
    """A training configuration resolved against this machine and cluster."""

    name: str  # default | mirrored | multiworker
    strategy: object
    replicas: int
    global_batch: int
    learning_rate: float
    precision: str
    jit_compile: bool

    @property
    def plain(self) -> bool:
        """Training happens on one device in float32: the trained model is usable as it is."""
        return self.name == "default" and self.precision == "float32"

    @contextlib.contextmanager
    def scope(self):
        """Build the model here: strategy scope (mirrored variables) and the dtype policy."""
        with self.strategy.scope(), precision_policy(self.precision):
            yield

    def describe(self) -> dict:
        return {
            "strategy": self.name,
            "replicas": self.replicas,
            "workers": max(1, cluster_size()),
            "global_batch": self.global_batch,
            "learning_rate": self.learning_rate,
            "precision": self.precision,
            "jit_compile": self.jit_compile,
        }


def plan(train_cfg) -> Plan:
    """Strategy (created first), replicas, scaled batch and learning rate, precision, XLA."""
    name = resolve_name(train_cfg.strategy)
    strategy = get_strategy(name)
    replicas = strategy.num_replicas_in_sync
    batch, lr = scaled(train_cfg.batch_size, train_cfg.learning_rate, replicas, train_cfg.lr_scaling)
    return Plan(
        name, strategy, replicas, batch, lr, resolve_precision(train_cfg.precision), bool(train_cfg.jit_compile)
    )


@contextlib.contextmanager
def precision_policy(name: str):
    """Set the global Keras dtype policy for the models built inside; restore it afterwards."""
    from prognos.models.kerasapi import keras

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def float32_copy(model, build):
    """The trained weights in a fresh float32 model from `build()`, outside any strategy scope."""
    with precision_policy("float32"):
        plain = build()
    plain.set_weights(model.get_weights())
    return plain


def backup_callback(backup_dir):
    """keras BackupAndRestore: a checkpoint per epoch in `backup_dir`; a rerun resumes from it.

    Under MultiWorkerMirroredStrategy the chief writes `backup_dir` and the other workers write
    temporary copies; a restarted cluster restores from the chief's. Deleted when training ends.
    """
    from prognos.models.kerasapi import keras

    return keras.callbacks.BackupAndRestore(backup_dir=str(backup_dir))
