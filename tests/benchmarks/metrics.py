"""Detection metrics for the accuracy benchmark, in numpy/scipy (no scikit-learn on the edge toolchain)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def auroc(normal_scores: np.ndarray, anomalous_scores: np.ndarray) -> float:
    """Area under the ROC curve = P(anomalous score > normal score), ties counted half.

    The Mann-Whitney U statistic, counted exactly: the normal scores are sorted once and each anomalous score
    is placed among them by binary search. O((N + M) log N); a pooled pixel AUROC over millions of pixels
    takes a fraction of a second (a full rank transform of both sets took seconds).
    normal_scores: [N] and anomalous_scores: [M], any float dtype.
    """
    normal = np.sort(np.asarray(normal_scores, dtype=np.float64).ravel())
    anomalous = np.asarray(anomalous_scores, dtype=np.float64).ravel()
    if normal.size == 0 or anomalous.size == 0:
        raise ValueError("AUROC needs at least one normal and one anomalous score")
    below = np.searchsorted(normal, anomalous, side="left")
    tied = np.searchsorted(normal, anomalous, side="right") - below
    u_statistic = below.sum(dtype=np.float64) + 0.5 * tied.sum(dtype=np.float64)
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
