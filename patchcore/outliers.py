"""Teach images that look unlike the others: likely not good parts.

A defective part among the good teach images does harm twice: its defect's patches enter the memory bank,
so the same defect on the line scores as normal, and its held-out score, far above the others', raises the
threshold (which follows the highest held-out score, threshold.py). Teach keeps every image it is given (a
good part may just look different, lit another way) and names these, so that the operator can look at
them and teach again without any that is not good.
"""

from collections.abc import Sequence

import numpy as np

# An image is named when its held-out score is above this many times the median of the others'. Clean teach
# sets of the benchmarks stay below it (README "A bad part among the good ones").
OUTLIER_FACTOR = 2.0
MIN_IMAGES = 4  # with fewer, the others' median says too little


def outlier_images(held_out_scores: Sequence[float]) -> list[int]:
    """Indices of the images whose held-out score is above OUTLIER_FACTOR times the median of the other
    images' scores (none with fewer than MIN_IMAGES images)."""
    scores = np.asarray(held_out_scores, dtype=np.float64)
    if len(scores) < MIN_IMAGES:
        return []
    return [
        index
        for index, score in enumerate(scores)
        if score > OUTLIER_FACTOR * float(np.median(np.delete(scores, index)))
    ]
