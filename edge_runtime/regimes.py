"""Operating regimes: nearest-centroid assignment and per-regime normalization, numpy only.

Fleets that run in several operating conditions (C-MAPSS FD002/FD004: six altitude / Mach / throttle
settings) show sensor values dominated by the condition, not by wear. Normalizing each row with the
mean and standard deviation of its own regime removes that (Wang et al. 2008, "A similarity-based
prognostics approach", PHM08: per-operating-regime normalization). The regimes are fitted on
training assets (pipeline.data.regimes: k-means on the standardized setting columns, or a declared
regime column); training and the device apply them with this one class, so both sides compute the
same numbers by construction.

A row whose standardized settings lie farther from every centroid than `max_distance` x `margin`
(the largest training distance to its own centroid, times a safety margin) is in a regime the model
never saw: `assign` reports it as unknown, and the device flags it instead of silently normalizing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from prognos.edge_runtime.errors import ConfigError


@dataclass
class Regimes:
    settings: list[str]  # setting columns the regime is read from, in this order
    center: list[float]  # standardization of the settings: (s - center) / scale
    scale: list[float]
    centroids: list[list[float]]  # (k, len(settings)), in standardized units
    mean: list[list[float]]  # (k, features): per-regime mean of each feature
    std: list[list[float]]  # (k, features): per-regime std (floored)
    max_distance: float  # largest training distance of a row to its own centroid (standardized units)
    margin: float = 3.0  # a row farther than max_distance x margin from every centroid is an unknown regime
    onehot: bool = False  # also feed the regime as a one-hot vector (k more model inputs)
    fit: dict = field(default_factory=dict)  # how the regimes were found, for the record

    def __post_init__(self):
        k, s = len(self.centroids), len(self.settings)
        if k < 1 or any(len(c) != s for c in self.centroids) or len(self.center) != s or len(self.scale) != s:
            raise ConfigError(f"regimes: {k} centroids over {s} settings do not match the settings' statistics")
        if len(self.mean) != k or len(self.std) != k:
            raise ConfigError(f"regimes: {k} centroids but {len(self.mean)} means and {len(self.std)} stds")

    @property
    def k(self) -> int:
        return len(self.centroids)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Regimes":
        try:
            return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        except TypeError as e:
            raise ConfigError(f"regimes: {e}") from None

    def distances(self, settings: np.ndarray) -> np.ndarray:
        """(N, k) Euclidean distances of standardized setting rows to every centroid."""
        z = (np.asarray(settings, np.float64) - np.asarray(self.center)) / np.asarray(self.scale)
        return np.linalg.norm(z[:, None, :] - np.asarray(self.centroids)[None], axis=2)

    def assign(self, settings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(regime index of each row, True where the row is within reach of a training regime)."""
        d = self.distances(np.atleast_2d(settings))
        label = d.argmin(1)
        return label, d[np.arange(len(d)), label] <= self.max_distance * self.margin

    def normalize(self, x: np.ndarray, label: np.ndarray) -> np.ndarray:
        """(x - mean[regime]) / std[regime] per row, float64, plus the one-hot columns if `onehot`."""
        z = (np.asarray(x, np.float64) - np.asarray(self.mean)[label]) / np.asarray(self.std)[label]
        if self.onehot:
            z = np.concatenate([z, np.eye(self.k)[label]], axis=1)
        return z
