"""Calibrated RUL prediction intervals: split conformal prediction, Mondrian by predicted RUL.

Vovk et al. 2005; Angelopoulos & Bates 2021. Validation residuals |y - ŷ| are grouped by predicted
RUL bin (late life is easier to predict than mid life, so one width for all would over-cover some
bins and under-cover others). For coverage 1 - α, bin b's half-width is the ⌈(n_b + 1)(1 - α)⌉-th
smallest residual of that bin; the interval is [max(0, ŷ - q_b), ŷ + q_b]. This module applies a
fitted spec on the device; `fit_conformal` (numpy only) fits it on training-side residuals.
"""

from __future__ import annotations

import math

import numpy as np

from prognos.edge_runtime.errors import ConfigError


def fit_conformal(pred, true, coverage: float = 0.9, edges=(40.0, 80.0, 110.0)) -> dict:
    """Per-bin half-widths from residuals of held-out windows.

    The bin at ≥ 110 (near the usual 125-cycle cap) holds engines that still look healthy, whose
    residuals are small; mixed into the 80-110 bin they narrow the interval of mid-life engines.
    On the FD001 ensemble (out of fold, calibrated as pipeline.cv.calibration_set) it moved the
    coverage of test-protocol cuts from 0.886 to 0.893 on one fold split and left it at 0.882 on
    another; windows stayed at 0.90-0.91.
    """
    if not 0 < coverage < 1:
        raise ConfigError(f"coverage must be in (0, 1), got {coverage}")
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    bins = np.digitize(pred, edges)
    widths = []
    for b in range(len(edges) + 1):
        res = np.sort(np.abs(pred - true)[bins == b])
        if len(res) == 0:
            res = np.sort(np.abs(pred - true))  # empty bin: fall back to all residuals
        k = min(len(res), math.ceil((len(res) + 1) * coverage))
        widths.append(round(float(res[k - 1]), 3))
    return {
        "method": "split conformal, Mondrian by predicted RUL",
        "coverage": coverage,
        "edges": list(edges),
        "half_width": widths,
    }


def apply_interval(rul: np.ndarray, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) RUL bounds for predictions `rul` under a fitted spec."""
    q = np.asarray(spec["half_width"], float)[np.digitize(rul, spec["edges"])]
    low = np.minimum(rul, np.maximum(0.0, rul - q))  # RUL >= 0, but never above the point estimate
    return low, rul + q


def empirical_coverage(pred, true, spec: dict) -> float:
    low, high = apply_interval(np.asarray(pred, float), spec)
    true = np.asarray(true, float)
    return float(np.mean((true >= low) & (true <= high)))
