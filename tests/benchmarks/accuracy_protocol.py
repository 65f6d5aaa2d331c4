"""One teach-and-test run, done the way the server does it: teach() -> MemoryBank -> Scorer.

The test frames go through the same steps as an Inspect call (resize to the model's size, extract, score
patches, image score); only the feature extraction is served from the benchmark's cache. Without heatmaps the
image score comes from patchcore.scoring.image_score, the function Scorer.result uses, so anomalous frames do
not pay for the regions the table does not report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchcore.bank import MemoryBank, TeachOptions
from patchcore.images import model_input
from patchcore.scoring import Scorer, image_score
from patchcore.teach import teach
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
    return teach(extractor, list(images), product_id, options)


def model_inputs(frames: np.ndarray, size: int, contrast_stretch: bool) -> np.ndarray:
    """frames: [N, H, W, 3] uint8 -> [N, size, size, 3] uint8, prepared as the server prepares them."""
    return np.stack([model_input(frame, size, contrast_stretch) for frame in frames])


def score_frames(
    extractor: CachedFeatureExtractor, bank: MemoryBank, frames: np.ndarray, want_heatmaps: bool
) -> FrameScores:
    """Image scores (and heatmaps) of frames [N, H, W, 3] uint8 RGB against the bank."""
    scorer = Scorer(bank, extractor.info)
    frame_size = (frames.shape[1], frames.shape[2])
    scores, heatmaps = [], []
    for start in range(0, len(frames), SCORE_BATCH):
        inputs = model_inputs(
            frames[start : start + SCORE_BATCH],
            extractor.info.input_size,
            bank.teach_options.contrast_stretch,
        )
        patch_grids = scorer.patch_scores(extractor.extract(inputs))
        for grid in patch_grids:
            if want_heatmaps:
                result = scorer.result(grid, frame_size, want_heatmap=True)
                scores.append(result.score)
                heatmaps.append(result.heatmap)
            else:
                scores.append(image_score(grid, bank.options.top_k))
    return FrameScores(
        scores=np.asarray(scores, dtype=np.float64), heatmaps=np.stack(heatmaps) if want_heatmaps else None
    )
