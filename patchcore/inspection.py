"""The one path from a frame to a verdict: prepare -> score -> verdict.

The server runs the three stages on different threads (prepare where the request is read, score in the
batcher for the frames of all calls at once, verdict back in the request's thread); the offline tools,
tests and benchmarks call `inspect`, which runs them in a row. Nothing else turns a frame into a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from patchcore.images import ScaledImage
from patchcore.model import FeatureExtractor
from patchcore.prepare import prepare
from patchcore.scoring import Scorer
from patchcore.verdict import Verdict, verdict


def score(extractor: FeatureExtractor, jobs: Sequence[tuple[np.ndarray, Scorer]]) -> list[np.ndarray]:
    """jobs: (inputs [T_i, S, S, 3] uint8, scorer) per frame -> patch scores [T_i, h, w] per frame.

    One model run for the inputs of every frame, one nearest-neighbour search per product among them.
    """
    sizes = [len(inputs) for inputs, _ in jobs]
    starts = np.cumsum([0, *sizes[:-1]])
    features = extractor.extract(np.concatenate([inputs for inputs, _ in jobs]))  # [sum T_i, h*w, D]
    frames_by_scorer: dict[int, list[int]] = {}
    for index, (_, scorer) in enumerate(jobs):
        frames_by_scorer.setdefault(id(scorer), []).append(index)
    grids: list[np.ndarray] = [np.empty(0)] * len(jobs)
    for indices in frames_by_scorer.values():
        rows = np.concatenate([np.arange(starts[i], starts[i] + sizes[i]) for i in indices])
        scores = jobs[indices[0]][1].patch_scores(features if len(indices) == len(jobs) else features[rows])
        for index, frame_scores in zip(
            indices, np.split(scores, np.cumsum([sizes[i] for i in indices])[:-1]), strict=True
        ):
            grids[index] = frame_scores
    return grids


def inspect(
    extractor: FeatureExtractor, scorer: Scorer, image: ScaledImage, want_heatmap: bool = True
) -> Verdict:
    """One frame, decoded, against one product."""
    prepared = prepare(image, scorer.view)
    (grids,) = score(extractor, [(prepared.inputs, scorer)])
    return verdict(grids, prepared.plan, scorer.bank.options, want_heatmap)
