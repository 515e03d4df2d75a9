"""RUL metrics: RMSE and the asymmetric NASA/PHM08 score (Saxena et al. 2008).

score = sum_i (exp(-d_i/13) - 1 if d_i < 0 else exp(d_i/10) - 1), d = predicted - true:
late predictions (d > 0) are penalized more than early ones.
"""

import numpy as np


def rmse(pred, true) -> float:
    d = np.asarray(pred, float) - np.asarray(true, float)
    return float(np.sqrt(np.mean(d**2)))


def nasa_score(pred, true) -> float:
    d = np.asarray(pred, float) - np.asarray(true, float)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13) - 1, np.exp(d / 10) - 1)))


def rul_metrics(pred, true) -> dict:
    return {"rmse": round(rmse(pred, true), 4), "score": round(nasa_score(pred, true), 4), "n": int(len(true))}
