"""Fine-tuning as data and as a loop: `Tune` (a row of the export table), `fine_tune`, weight statistics.

A `Tune` is data in the export table (export.formats); `export.tune.Tuner` fine-tunes copies of the run's
trained model on the run's training windows and caches each result, so two formats that share a
step (e.g. pruned int8 and prune-preserving QAT, which starts from the pruned model) train it once.
Every step returns the model to convert and a report with the weights measured after the step
(`weight_stats`: zero fraction and distinct values per kernel) and the validation loss per epoch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from prognos.edge_runtime.errors import ConfigError

KINDS = ("prune", "cluster", "qat", "pqat", "cqat")
SCHEDULES = ("polynomial", "constant")
KERNELS = ("kernel", "recurrent_kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")


@dataclass(frozen=True)
class Tune:
    kind: str  # prune | cluster | qat | pqat (prune, then prune-preserving QAT) | cqat (cluster, then CQAT)
    sparsity: float = 0.75  # prune/pqat: final zero fraction of every pruned kernel
    schedule: str = "polynomial"  # prune/pqat: polynomial decay (Zhu & Gupta 2017) or constant sparsity
    m_by_n: tuple | None = None  # prune: (2, 4) = at least 2 zeros in 4 consecutive weights (tfmot m_by_n)
    clusters: int = 16  # cluster/cqat: centroids per kernel (Han et al. 2016 weight sharing)
    block: tuple | None = None  # prune: (4, 1) = zero blocks of 4 inputs x 1 output (tfmot block_size)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"tune kind {self.kind!r}; expected one of {KINDS}")
        if not 0.0 < self.sparsity < 1.0:
            raise ConfigError(f"tune sparsity {self.sparsity!r}; expected a fraction in (0, 1)")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"tune schedule {self.schedule!r}; expected one of {SCHEDULES}")
        if self.m_by_n is not None and not (len(self.m_by_n) == 2 and 0 < self.m_by_n[0] < self.m_by_n[1]):
            raise ConfigError(f"tune m_by_n {self.m_by_n!r}; expected (m, n) with 0 < m < n, e.g. (2, 4)")
        if self.block is not None and not (
            len(self.block) == 2 and all(isinstance(b, int) and b >= 1 for b in self.block)
        ):
            raise ConfigError(f"tune block {self.block!r}; expected (rows, cols) of positive ints, e.g. (4, 1)")
        if not isinstance(self.clusters, int) or self.clusters < 2:
            raise ConfigError(f"tune clusters {self.clusters!r}; expected an int >= 2")

    @property
    def base(self) -> "Tune | None":
        """The step a collaborative QAT starts from."""
        if self.kind == "pqat":
            return Tune("prune", self.sparsity, self.schedule)
        if self.kind == "cqat":
            return Tune("cluster", clusters=self.clusters)
        return None

    def relevant(self) -> dict:
        """The kind and the parameters it uses (for reports and manifests)."""
        if self.kind in ("prune", "pqat"):
            params = (
                {"m_by_n": list(self.m_by_n)} if self.m_by_n else {"sparsity": self.sparsity, "schedule": self.schedule}
            )
            if self.block and not self.m_by_n:
                params["block"] = list(self.block)
        else:
            params = {"clusters": self.clusters} if self.kind in ("cluster", "cqat") else {}
        return {"kind": self.kind, **params}

    def with_overrides(self, sparsity=None, schedule=None, clusters=None) -> "Tune":
        """The same step with CLI overrides applied where this kind uses them."""
        used = self.relevant()
        changes = {
            k: v
            for k, v in (("sparsity", sparsity), ("schedule", schedule), ("clusters", clusters))
            if v is not None and k in used
        }
        return replace(self, **changes)


@dataclass
class TuneConfig:
    epochs: int = 4  # fine-tuning epochs per step; pruning reaches its target after 2/3 of them
    learning_rate: float = 5e-4  # prune/cluster: a quarter of training's 2e-3 (fine-tuning, not retraining)
    qat_learning_rate: float = 1e-5  # QAT only adapts to quantization noise; FD001 best-epoch val loss
    # 0.01294 at 1e-5, 0.01325 at 3e-5, 0.01344 at 1e-4 (5e-4: +0.2..1.2 RMSE drift)
    batch_size: int = 256


def weight_stats(model) -> dict:
    """{layer: {kernel: {"sparsity", "unique", "size"}}} measured on the weights as they are now."""
    out = {}
    for layer in model.layers:
        for w in layer.weights:
            name = w.name.split(":")[0].split("/")[-1]
            if name in KERNELS:
                v = np.asarray(w.numpy())
                owner = getattr(layer, "layer", layer).name  # a tfmot wrapper reports the layer it wraps
                out.setdefault(owner, {})[name] = {
                    "sparsity": round(float(np.mean(v == 0)), 4),
                    "unique": int(np.unique(v).size),
                    "size": int(v.size),
                }
    return out


def copy_model(model):
    """A functional copy with new layers and the same weights (tfmot wrappers mutate what they wrap)."""
    from prognos.models.kerasapi import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def freeze_batch_norm(model):
    """Run every BatchNormalization of `model` (bare or inside a tfmot wrapper) in inference mode, also
    in training (trainable=False): every fine-tuning step then optimizes the function that is converted.

    Unfrozen, BN normalizes a training step with the batch's statistics and moves its moving statistics
    towards them (momentum 0.99, ~100 steps behind), and the weights under it change every step:
    - QAT of MobileNet V1 (simulator, 8 training epochs, issue #5): the moving variance of some channels
      of every depthwise BN fell to x0.097..0.11 of the trained value (x0.99 per step for 232 steps, a
      batch variance of ~0 under fake quantization); the int8 file measured RMSE 4613 (fp32: 41.8).
    - 75 % pruning of MobileNet V1 on FD001 (4 epochs, issue #5): the pruning masks grow for 2/3 of
      the steps; training loss 0.018-0.040 but validation loss (moving statistics) 0.10-0.11, the mean
      predictor's; the pruned int8 file +19 RMSE.
    Frozen BN statistics in fine-tuning are the usual recipe (QAT: Jacob et al. 2018, Krishnamoorthi
    2018); the converter folds exactly these statistics into the convolutions.
    """
    from prognos.models.kerasapi import keras

    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.BatchNormalization):
            inner.trainable = False


def fine_tune(
    model, train, val, cfg: TuneConfig, callbacks=(), learning_rate: float | None = None, first: int = 0
) -> tuple[list, int]:
    """Compile and fit `model` for cfg.epochs, BN frozen, and keep the epoch with the lowest validation
    loss among epochs `first`, `first` + 1, ... (`best_epoch`). Returns the validation loss per epoch,
    epoch 0 (the model before fine-tuning) first, and the number of the epoch kept."""
    from prognos.models.kerasapi import keras

    freeze_batch_norm(model)
    best = best_epoch(val, first)
    start = best.start_loss(model)
    model.compile(keras.optimizers.Adam(learning_rate or cfg.learning_rate), loss="mse")
    history = model.fit(
        train.x,
        train.y,
        validation_data=(val.x, val.y),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        shuffle=True,
        callbacks=[*callbacks, best],
        verbose=1 if sys.stdout.isatty() else 2,
    )
    val_loss = [start] + [round(float(v), 6) for v in history.history["val_loss"]]
    return val_loss, first + int(np.argmin(val_loss[first:]))


def best_epoch(val, first: int = 0):
    """A keras callback restoring the weights of the epoch with the lowest validation loss among epochs
    `first`, `first` + 1, ... (1-based; 0: the model before fine-tuning is a candidate too).

    Pruning can only choose epochs that end with its full sparsity (`first` > 0); clustering and QAT
    start from epoch 0. `start_loss(model)` measures epoch 0 (a candidate only when `first` is 0);
    call it before fitting. Keeping the last epoch instead made the 75 %-pruned FD001 LSTM +2.3, +2.8 or
    +5.5 RMSE in three runs of the same setting (issue #5).

    keras' EarlyStopping(restore_best_weights=True) only chooses among trained epochs. QAT
    fine-tuning of a model that early stopping already left at its validation optimum measured
    worse after every epoch on FD001 (val loss 0.01208 untuned, 0.0129-0.0135 after each of 4-8
    epochs at lr 1e-5 or 1e-4; the simulator alike), so
    the untuned QAT model (weights as trained, ranges calibrated) must be a candidate too.
    """
    from prognos.models.kerasapi import keras

    class BestEpoch(keras.callbacks.Callback):
        best, weights = float("inf"), None

        def start_loss(self, model) -> float:
            pred = model.predict(val.x, batch_size=1024, verbose=0)
            loss = float(np.mean((pred.reshape(np.shape(val.y)) - val.y) ** 2))
            if first == 0:
                self.best, self.weights = loss, model.get_weights()
            return round(loss, 6)

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 >= first and logs["val_loss"] < self.best:
                self.best, self.weights = logs["val_loss"], self.model.get_weights()

        def on_train_end(self, logs=None):
            if self.weights is not None:
                self.model.set_weights(self.weights)

    return BestEpoch()
