"""A plain PatchCore, written out on its own as the reference the engine must beat ("anomalib-like").

Same EfficientNet-Lite0 ImageNet weights as the engine's model, as anomalib's PatchcoreModel runs them:
timm tf_efficientnet_lite0 features_only, stages 2 and 3 (strides 8 and 16), pixels scaled to [-1, 1], each
layer 3x3 average-pooled at its own grid (torch AvgPool2d(3, 1, 1), zero padding counted, as anomalib), the
stride-16 map upsampled bilinearly to the stride-8 grid, concatenated, no L2 normalisation. Memory bank: a
10% greedy k-center coreset (the same greedy algorithm as anomalib's, patchcore.coreset); patch score =
Euclidean distance to the nearest bank vector; image score = the highest patch score; heatmap = patch scores
upsampled bilinearly to the input size and Gaussian-smoothed with sigma 4 (anomalib's defaults). Frames are
resized to the input size with area averaging. Its threshold follows the engine's rule (the engine's
DEFAULT_THRESHOLD_SCALE x the highest leave-one-out score), so false alarms and misses are comparable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from patchcore.bank import DEFAULT_THRESHOLD_SCALE
from patchcore.coreset import coreset_size, greedy_coreset
from tests.benchmarks.accuracy_protocol import SCORE_BATCH, FrameScores
from tests.benchmarks.cached_features import CachedFeatureExtractor
from tests.benchmarks.traced_features import TracedFeatures, lite0_features_only

INPUT_SIZE = 224
CORESET_RATIO = 0.1
HEATMAP_SIGMA = 4.0
NAME = "plain PatchCore (anomalib-like, torch)"


class AnomalibStyleFeatures(nn.Module):
    """images [B, S, S, 3] uint8 RGB -> [B, (S/8)^2, 152] float32 patch embeddings (not normalised)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = lite0_features_only()
        self.pool = nn.AvgPool2d(3, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        fine, coarse = (self.pool(feature_map) for feature_map in self.net(pixels))
        coarse = F.interpolate(coarse, size=fine.shape[-2:], mode="bilinear")
        return torch.cat([fine, coarse], dim=1).flatten(2).transpose(1, 2)


def plain_extractor() -> TracedFeatures:
    return TracedFeatures(AnomalibStyleFeatures(), "plain-lite0", INPUT_SIZE, INPUT_SIZE // 8, 40 + 112)


@dataclass(frozen=True)
class PlainBank:
    """vectors: [M, D] float32 (the coreset); threshold and the leave-one-out scores it came from."""

    vectors: np.ndarray
    threshold: float
    leave_one_out_scores: tuple[float, ...]


def model_inputs(frames: np.ndarray) -> np.ndarray:
    """frames [N, H, W, 3] uint8 -> [N, S, S, 3] uint8, area-averaged (bilinear when enlarging)."""
    return np.stack(
        [
            cv2.resize(
                frame,
                (INPUT_SIZE, INPUT_SIZE),
                interpolation=cv2.INTER_AREA if min(frame.shape[:2]) >= INPUT_SIZE else cv2.INTER_LINEAR,
            )
            for frame in frames
        ]
    )


def nearest_distances(bank: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Euclidean distance of each query [N, D] to its nearest bank vector [M, D] -> [N] float32."""
    squared = (
        np.einsum("nd,nd->n", queries, queries)[:, None]
        - 2.0 * queries @ bank.T
        + np.einsum("md,md->m", bank, bank)[None, :]
    )
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0)).astype(np.float32)


def _coreset(patches: np.ndarray, seed: int) -> np.ndarray:
    return patches[greedy_coreset(patches, coreset_size(len(patches), CORESET_RATIO), seed=seed)]


def plain_teach(extractor: CachedFeatureExtractor, frames: np.ndarray, seed: int) -> PlainBank:
    """Bank and threshold from good frames [T, H, W, 3] uint8 RGB."""
    features = extractor.extract(model_inputs(frames))
    dim = features.shape[-1]
    scores = []
    for left_out in range(len(features)):
        others = np.delete(features, left_out, axis=0).reshape(-1, dim)
        scores.append(float(nearest_distances(_coreset(others, seed), features[left_out]).max()))
    return PlainBank(
        vectors=_coreset(features.reshape(-1, dim), seed),
        threshold=DEFAULT_THRESHOLD_SCALE * max(scores),
        leave_one_out_scores=tuple(scores),
    )


def timed_plain_teach(extractor: TracedFeatures, frames: np.ndarray) -> float:
    """Seconds of one plain teach of frames [T, H, W, 3] uint8, extraction included."""
    start = time.perf_counter()
    plain_teach(CachedFeatureExtractor(extractor), frames, seed=0)
    return time.perf_counter() - start


def heatmap(patch_grid: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """[h, w] patch scores -> [H, W] float32: bilinear to the input size, sigma-4 Gaussian, frame size."""
    upsampled = cv2.resize(patch_grid, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    smoothed = cv2.GaussianBlur(upsampled, (0, 0), HEATMAP_SIGMA)
    return cv2.resize(smoothed, (frame_size[1], frame_size[0]), interpolation=cv2.INTER_LINEAR)


def plain_score(
    extractor: CachedFeatureExtractor, bank: PlainBank, frames: np.ndarray, want_heatmaps: bool
) -> FrameScores:
    """Image scores (and heatmaps at frame size) of frames [N, H, W, 3] uint8 RGB."""
    grid = extractor.info.grid
    scores, heatmaps = [], []
    for start in range(0, len(frames), SCORE_BATCH):
        features = extractor.extract(model_inputs(frames[start : start + SCORE_BATCH]))
        distances = nearest_distances(bank.vectors, features.reshape(-1, features.shape[-1]))
        for patch_grid in distances.reshape(len(features), *grid):
            scores.append(float(patch_grid.max()))
            if want_heatmaps:
                heatmaps.append(heatmap(patch_grid, frames.shape[1:3]))
    return FrameScores(
        scores=np.asarray(scores, dtype=np.float64), heatmaps=np.stack(heatmaps) if want_heatmaps else None
    )
