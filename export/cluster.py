"""Weight clustering with tfmot (weight sharing, Han et al. 2016 "Deep Compression").

Each kernel of every clusterable layer except the output head is replaced by `clusters` shared
values (k-means++ initialized centroids, fine-tuned; the epoch with the lowest validation loss is
kept, the clustered model before fine-tuning included), so int8 files compress well with gzip.
`strip_clustering` removes the wrappers; the report counts the distinct values per kernel.
Cluster-preserving QAT starts from this model (export.qat, mode "cqat").
"""

from __future__ import annotations

from prognos.export.finetune import Tune, TuneConfig, copy_model, fine_tune, weight_stats


def cluster(model, tune: Tune, train, val, cfg: TuneConfig):
    """(stripped clustered copy of `model`, report) after cfg.epochs of clustering fine-tuning."""
    from prognos.models.kerasapi import keras, load_tfmot

    clustering = load_tfmot().clustering.keras

    head = model.layers[-1].name
    init = clustering.CentroidInitialization.KMEANS_PLUS_PLUS

    def wrap(layer):
        if layer.name == head or not layer.trainable_weights:
            return layer
        return clustering.cluster_weights(layer, number_of_clusters=tune.clusters, cluster_centroids_init=init)

    # wrappers wrap the layers they are given: hand them a copy, never the caller's model
    wrapped = keras.models.clone_model(copy_model(model), clone_function=wrap)
    val_loss, best = fine_tune(wrapped, train, val, cfg)
    stripped = clustering.strip_clustering(wrapped)
    return stripped, {
        "tune": tune.relevant(),
        "epochs": cfg.epochs,
        "val_loss": val_loss,
        "skipped": [head],
        "best_epoch": best,
        "weights": weight_stats(stripped),
    }
