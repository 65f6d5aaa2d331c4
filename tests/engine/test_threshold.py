import inspect

import numpy as np
import pytest

from patchcore.bank import DEFAULT_THRESHOLD_SCALE
from patchcore.teach import teach
from patchcore.threshold import leave_one_out_scores, threshold_from_scores


def test_rule_is_the_scaled_highest_leave_one_out_score():
    scores = [0.11, 0.25, 0.19, 0.2]
    assert threshold_from_scores(scores, 1.0) == pytest.approx(0.25)
    assert threshold_from_scores(scores, 1.2) == pytest.approx(0.30)
    assert threshold_from_scores(scores, DEFAULT_THRESHOLD_SCALE) >= max(scores)


def test_teaching_takes_no_defect_images_or_labels():
    parameters = set(inspect.signature(teach).parameters)
    assert parameters == {"extractor", "frames", "product_id", "options", "version", "progress"}


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def flat(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """features [n, V, P, D] (view 0 = the image as it is) -> patches, owners, scored as teach holds them."""
    images, views, patches, dim = features.shape
    owners = np.repeat(np.arange(images), views * patches)
    scored = np.tile(np.repeat(np.arange(views) == 0, patches), images)
    return features.reshape(-1, dim), owners, scored


def test_each_image_is_scored_against_the_others_only():
    rng = np.random.default_rng(0)
    # image 0 and image 1 are identical; image 2 is unlike both
    base = unit(rng.standard_normal((1, 1, 20, 8)))
    features = np.concatenate([base, base, unit(rng.standard_normal((1, 1, 20, 8)))])
    scores = leave_one_out_scores(*flat(features), coreset_ratio=1.0, top_k=1, seed=0)
    assert scores[0] == pytest.approx(0.0, abs=1e-6)
    assert scores[1] == pytest.approx(0.0, abs=1e-6)
    assert scores[2] > 0.1


def test_augmented_views_leave_with_their_image():
    rng = np.random.default_rng(1)
    originals = unit(rng.standard_normal((3, 1, 20, 8)))
    # view 1 of each image is a copy of view 0: if it stayed in the bank, every score would be 0
    features = np.concatenate([originals, originals], axis=1)
    scores = leave_one_out_scores(*flat(features), coreset_ratio=1.0, top_k=1, seed=0)
    assert min(scores) > 0.1


def test_progress_is_reported_once_per_image():
    calls = []
    features = unit(np.random.default_rng(2).standard_normal((4, 1, 10, 8)))
    leave_one_out_scores(*flat(features), 0.5, 1, 0, progress=calls.append)
    assert calls == [1, 1, 1, 1]
