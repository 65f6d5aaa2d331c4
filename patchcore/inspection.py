"""The one path from a frame to a verdict: prepare -> score -> verdict, where score is extract (the model)
then search (the nearest bank vector of the patches the verdict needs: patchcore/scoring.py).

The server runs the stages on different threads: prepare where the request is read, extract in the batcher
for the frames of all calls at once, search and verdict back in the request's thread, so that the batcher
starts the next model run while the last batch's frames are searched. Tests and benchmarks call `inspect`
or `inspect_frames`, which run them in a row. Nothing else turns a frame into a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from patchcore.images import ScaledImage
from patchcore.model import FeatureExtractor
from patchcore.prepare import prepare
from patchcore.scoring import PatchScores, Scorer
from patchcore.verdict import Verdict, verdict


def extract(extractor: FeatureExtractor, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Model inputs [T_i, S, S, 3] uint8 per frame -> features [T_i, h*w, D] per frame, from one model run
    for the inputs of every frame."""
    features = extractor.extract(np.concatenate(inputs))
    return np.split(features, np.cumsum([len(frame) for frame in inputs])[:-1])


def search(scorer: Scorer, features: np.ndarray) -> PatchScores:
    """One frame's features [T, h*w, D] -> its patch scores against the product's bank, searched as far as
    the verdict asks (patchcore/scoring.py)."""
    return scorer.frame_scores(features)


def score(extractor: FeatureExtractor, jobs: Sequence[tuple[np.ndarray, Scorer]]) -> list[PatchScores]:
    """jobs: (inputs [T_i, S, S, 3] uint8, scorer) per frame -> the patch scores of each frame: one model run
    for all, then each frame's search."""
    features = extract(extractor, [inputs for inputs, _ in jobs])
    return [search(scorer, frame) for (_, scorer), frame in zip(jobs, features, strict=True)]


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
