"""Detection metrics for the accuracy benchmark, in numpy/scipy (no scikit-learn on the edge toolchain)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def auroc(normal_scores: np.ndarray, anomalous_scores: np.ndarray) -> float:
    """Area under the ROC curve = P(anomalous score > normal score), ties counted half.

    Rank-based (Mann-Whitney U): exact, O(n log n), works for millions of pixel scores.
    normal_scores: [N] and anomalous_scores: [M], any float dtype.
    """
    normal = np.asarray(normal_scores, dtype=np.float64).ravel()
    anomalous = np.asarray(anomalous_scores, dtype=np.float64).ravel()
    if normal.size == 0 or anomalous.size == 0:
        raise ValueError("AUROC needs at least one normal and one anomalous score")
    ranks = rankdata(np.concatenate([normal, anomalous]))
    anomalous_rank_sum = ranks[normal.size :].sum()
    u_statistic = anomalous_rank_sum - anomalous.size * (anomalous.size + 1) / 2.0
    return float(u_statistic / (normal.size * anomalous.size))


def pixel_auroc(heatmaps: np.ndarray, masks: np.ndarray) -> float:
    """Pixel AUROC pooled over all test images (MVTec convention).

    heatmaps: [B, H, W] float; masks: [B, H, W] bool, True on defect pixels.
    """
    scores = np.asarray(heatmaps).ravel()
    truth = np.asarray(masks, dtype=bool).ravel()
    return auroc(scores[~truth], scores[truth])


@dataclass(frozen=True)
class OperatingPoint:
    """What a line operator sees at one threshold: good parts rejected and defects passed."""

    threshold: float
    false_alarm_rate: float
    miss_rate: float


def operating_point(
    normal_scores: np.ndarray, anomalous_scores: np.ndarray, threshold: float
) -> OperatingPoint:
    """Rates at `threshold`, with the engine's rule: a frame is anomalous when score > threshold."""
    normal = np.asarray(normal_scores, dtype=np.float64)
    anomalous = np.asarray(anomalous_scores, dtype=np.float64)
    return OperatingPoint(
        threshold=float(threshold),
        false_alarm_rate=float(np.mean(normal > threshold)),
        miss_rate=float(np.mean(anomalous <= threshold)),
    )
