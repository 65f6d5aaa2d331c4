"""The one path from a frame to a verdict: prepare -> score -> verdict, where score is extract (the model)
then search (the nearest bank vector of the patches the verdict needs: patchcore/scoring.py).

The server runs the stages on different threads: prepare where the request is read, extract in the batcher
for the frames of all calls at once, search and verdict back in the request's thread, so that the batcher
starts the next model run while the last batch's frames are searched. Tests and benchmarks call `inspect`
or `inspect_frames`, which run them in a row. Nothing else turns a frame into a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from patchcore.images import ScaledImage
from patchcore.model import FeatureExtractor
from patchcore.prepare import prepare
from patchcore.scoring import PatchScores, Scorer
from patchcore.verdict import Verdict, verdict


@dataclass(frozen=True)
class FrameFeatures:
    """What the model made of one frame's T inputs: features [T, h*w, D], and its fine cells [T, cells,
    fine_dim] where they were asked for (a product with a fine bank: patchcore/fine.py), else None."""

    features: np.ndarray
    fine_cells: np.ndarray | None = None


def extract(
    extractor: FeatureExtractor, inputs: Sequence[np.ndarray], fine: Sequence[bool] | None = None
) -> list[FrameFeatures]:
    """Model inputs [T_i, S, S, 3] uint8 per frame -> the features of each frame, from one model run for the
    inputs of every frame. fine: per frame, whether its fine cells are wanted too (None: for none)."""
    wanted = [False] * len(inputs) if fine is None else list(fine)
    batch = np.concatenate(inputs)
    if any(wanted):
        features, cells = extractor.extract_with_fine(batch)
    else:
        features, cells = extractor.extract(batch), None
    offsets = np.cumsum([len(frame) for frame in inputs])[:-1]
    per_frame_cells = np.split(cells, offsets) if cells is not None else [None] * len(inputs)
    return [
        FrameFeatures(frame, frame_cells if want else None)
        for frame, frame_cells, want in zip(np.split(features, offsets), per_frame_cells, wanted, strict=True)
    ]


def search(scorer: Scorer, frame: FrameFeatures) -> PatchScores:
    """One frame's features -> its patch scores against the product's bank, searched as far as the verdict
    asks (patchcore/scoring.py)."""
    return scorer.frame_scores(frame.features, frame.fine_cells)


def score(extractor: FeatureExtractor, jobs: Sequence[tuple[np.ndarray, Scorer]]) -> list[PatchScores]:
    """jobs: (inputs [T_i, S, S, 3] uint8, scorer) per frame -> the patch scores of each frame: one model run
    for all, then each frame's search."""
    fine = [scorer.wants_fine_cells for _, scorer in jobs]
    frames = extract(extractor, [inputs for inputs, _ in jobs], fine)
    return [search(scorer, frame) for (_, scorer), frame in zip(jobs, frames, strict=True)]


def inspect_frames(
    extractor: FeatureExtractor, scorer: Scorer, images: Sequence[ScaledImage], want_heatmap: bool = True
) -> list[Verdict]:
    """Frames, decoded, against one product: one model run for all of them."""
    prepared = [prepare(image, scorer.view) for image in images]
    scores = score(extractor, [(frame.inputs, scorer) for frame in prepared])
    return [
        verdict(frame_scores, frame.plan, scorer.bank.options, want_heatmap)
        for frame, frame_scores in zip(prepared, scores, strict=True)
    ]


def inspect(
    extractor: FeatureExtractor, scorer: Scorer, image: ScaledImage, want_heatmap: bool = True
) -> Verdict:
    """One frame, decoded, against one product."""
    (result,) = inspect_frames(extractor, scorer, [image], want_heatmap)
    return result
