"""`Tuner`: fine-tuned variants (prune, cluster, QAT and combos) of one trained model, cached by `Tune`.

Two formats that share a step (e.g. pruned int8 and prune-preserving QAT, which starts from the
pruned model) train it once. The steps themselves live in export.prune, export.cluster, export.qat;
the `Tune` data and the fine-tuning loop they share in export.finetune.
"""

from __future__ import annotations

from prognos.export import cluster, prune, qat
from prognos.export.convert import inference_clone
from prognos.export.finetune import Tune, TuneConfig, fine_tune, weight_stats


class Tuner:
    """Fine-tuned variants of one trained model, computed on demand and cached by `Tune`."""

    def __init__(self, model, train, val, cfg: TuneConfig | None = None, calibration=None):
        self.model, self.train, self.val, self.cfg = model, train, val, cfg or TuneConfig()
        self.calibration = train.x[:256] if calibration is None else calibration  # QAT activation ranges
        self._cache: dict = {}

    def get(self, tune: Tune):
        """(model to convert, report) for `tune`."""
        if tune not in self._cache:
            self._cache[tune] = self._run(tune)
        return self._cache[tune]

    def _run(self, tune: Tune):
        print(f"[prognos] fine-tuning: {tune.relevant()}, {self.cfg.epochs} epochs", flush=True)
        if tune.kind == "prune":
            return prune.prune(self.model, tune, self.train, self.val, self.cfg)
        if tune.kind == "cluster":
            return cluster.cluster(self.model, tune, self.train, self.val, self.cfg)
        start = inference_clone(self.get(tune.base)[0] if tune.base else self.model, None, rnn="dense")
        model = qat.quantize_aware(start, tune.kind)
        qat.calibrate_weight_ranges(model)  # first: the activation ranges are measured through the weights
        qat.calibrate_ranges(model, self.calibration)
        val_loss, best = fine_tune(model, self.train, self.val, self.cfg, learning_rate=self.cfg.qat_learning_rate)
        qat.calibrate_ranges(model, self.calibration)
        skipped = self.get(tune.base)[1]["skipped"] if tune.base else []  # e.g. the head a pruning left dense
        return model, {
            "tune": tune.relevant(),
            "epochs": self.cfg.epochs,
            "val_loss": val_loss,
            "best_epoch": best,
            "skipped": skipped,
            "weights": weight_stats(model),
        }
