"""One teach-and-test run, done the way the server does it: the engine's teach and inspection pipeline.

Teach frames go through teach_images (prepare + teach), test frames through inspect_frames (prepare -> score
-> verdict: patchcore.inspection), in batches; only the feature extraction is served from the benchmark's
cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchcore.bank import MemoryBank, TeachOptions
from patchcore.geometry import FrameView
from patchcore.images import ScaledImage
from patchcore.inspection import inspect_frames
from patchcore.prepare import PreparedFrame, prepare
from patchcore.scoring import Scorer
from patchcore.teach import teach_images
from tests.benchmarks.cached_features import CachedFeatureExtractor

SCORE_BATCH = 32


@dataclass(frozen=True)
class FrameScores:
    """scores: [N] image scores; heatmaps: [N, H, W] float32 at frame size, or None when not asked for."""

    scores: np.ndarray
    heatmaps: np.ndarray | None


def teach_product(
    extractor: CachedFeatureExtractor, images: np.ndarray, options: TeachOptions, product_id: str
) -> MemoryBank:
    """images: [T, H, W, 3] uint8 RGB good frames at their original size, as a Teach call carries them."""
    return teach_images(extractor, list(images), product_id, options)


def prepared_frames(frames: np.ndarray, view: FrameView) -> list[PreparedFrame]:
    """frames: [N, H, W, 3] uint8 RGB -> each prepared as a product with this view sees it."""
    return [prepare(ScaledImage.full(frame), view) for frame in frames]


def score_frames(
    extractor: CachedFeatureExtractor, bank: MemoryBank, frames: np.ndarray, want_heatmaps: bool
) -> FrameScores:
    """Image scores (and heatmaps) of frames [N, H, W, 3] uint8 RGB against the bank."""
    scorer = Scorer(bank, extractor.info)
    scores, heatmaps = [], []
    for start in range(0, len(frames), SCORE_BATCH):
        batch = [ScaledImage.full(frame) for frame in frames[start : start + SCORE_BATCH]]
        for result in inspect_frames(extractor, scorer, batch, want_heatmaps):
            scores.append(result.score)
            heatmaps.append(result.heatmap)
    return FrameScores(
        scores=np.asarray(scores, dtype=np.float64), heatmaps=np.stack(heatmaps) if want_heatmaps else None
    )
