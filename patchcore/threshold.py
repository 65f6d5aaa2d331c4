"""The default threshold, from good images only (no defect image is ever needed or accepted).

Leave-one-out: each training image is scored against a memory bank built (same coreset ratio, same seed)
from the other training images only, so its score is a fair sample of what a new good part scores.

Rule: threshold = threshold_scale * max(leave-one-out scores), with threshold_scale defaulting to
patchcore.bank.DEFAULT_THRESHOLD_SCALE.

Why the max: with 8 good images it is the highest of 8 samples of the good-score distribution, and each
leave-one-out bank holds one image fewer than the final bank, so it errs towards fewer false alarms. Why the
scale 1.1: good images in the field vary more than 8 samples show. Measured on elpv solar cells
(efficientnet_lite0 at 224, 8 shots, 3 seeds, all other good and defective cells tested), the false-alarm
rate on held-out good cells averaged 8% (mono) and 16% (poly) at scale 1.0, and 7% and 8% at 1.1, for
misses of 29% -> 32% (mono) and 38% -> 51% (poly); 1.25 gives 5% and 1% false alarms, 37% and 68% misses.
mean + 2 or 3 std of the scores behaved like scale 1.0-1.1 and is less stable with 8 samples. An operator
trades false alarms for misses with the product's threshold (UpdateProduct) or threshold_scale at teach time.
"""

from collections.abc import Callable

import numpy as np

from patchcore.coreset import coreset_size, greedy_coreset
from patchcore.knn import NearestNeighbours
from patchcore.verdict import image_score


def threshold_from_scores(leave_one_out_scores: list[float], threshold_scale: float) -> float:
    """The default threshold for these leave-one-out scores of good images."""
    return float(threshold_scale * max(leave_one_out_scores))


def leave_one_out_scores(
    patches: np.ndarray,
    owners: np.ndarray,
    scored: np.ndarray,
    coreset_ratio: float,
    top_k: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Image score of each teach frame against a coreset of the other frames' patches.

    patches: [N, D] float32; owners: [N] int, the teach frame of each patch (at least 2 frames); scored: [N]
    bool, the patches of the frames as they are (augmented copies leave with their frame but are not scored).
    Each bank keeps coreset_ratio x the other frames' scored patch count, chosen from all their patches (as
    teach does). progress(1) is called after each frame.
    """
    frames = np.unique(owners)
    if len(frames) < 2:
        raise ValueError("leave-one-out needs at least 2 images")
    scores = []
    for left_out in frames:
        mine = owners == left_out
        others = patches[~mine]
        count = coreset_size(int(scored[~mine].sum()), coreset_ratio)
        indices = greedy_coreset(others, count, seed=seed)
        distances = NearestNeighbours(others[indices]).distances(patches[mine & scored])
        scores.append(image_score(distances, top_k))
        if progress is not None:
            progress(1)
    return scores
