"""EfficientNet-Lite0's real ImageNet weights give features that recognise content: two overlapping crops
of one photo match each other far better than an unrelated photo. Random weights do not, which shows the
check tests the weights and not only the architecture."""

import cv2
import numpy as np
import pytest
import skimage.data
import timm
import torch

from exporter.backbones import BACKBONES, build_patch_features
from patchcore.model import FeatureExtractor

LITE0 = BACKBONES["efficientnet_lite0"]
# Mean nearest-patch cosine similarity must be this much higher for the same scene than for another one.
# Measured: ~0.35 with the real weights, ~0.02 with random ones.
MIN_SIMILARITY_GAP = 0.2
pytestmark = pytest.mark.slow


def square(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    """[3, 224, 224, 3]: two overlapping crops of the cat photo, then the coffee photo."""
    cat = skimage.data.chelsea()
    return np.stack([square(cat[:, :300]), square(cat[:, 151:451]), square(skimage.data.coffee())])


def mean_nearest_patch_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """a, b: [N, D] unit vectors -> mean over a's patches of the best cosine similarity in b."""
    return float((a @ b.T).max(axis=1).mean())


def similarity_gap(features: np.ndarray) -> float:
    """features: [3, N, D] for (crop 1, crop 2, unrelated)."""
    crop, other_crop, unrelated = features
    return mean_nearest_patch_similarity(crop, other_crop) - mean_nearest_patch_similarity(crop, unrelated)


def test_real_weights_match_crops_of_one_scene(lite0_model, photos):
    assert similarity_gap(FeatureExtractor(lite0_model).extract(photos)) > MIN_SIMILARITY_GAP


def test_random_weights_fail_the_same_check(photos):
    torch.manual_seed(0)
    module = build_patch_features(LITE0, timm.create_model(LITE0.timm_name).state_dict(), 224)
    with torch.no_grad():
        features = module(torch.from_numpy(photos)).numpy()

    assert similarity_gap(features) < MIN_SIMILARITY_GAP
