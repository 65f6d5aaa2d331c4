"""EfficientNet-Lite0's real ImageNet weights give features that recognise content: two overlapping crops
of one photo match each other far better than an unrelated photo. Random weights do not, which shows the
check tests the weights and not only the architecture."""

import cv2
import numpy as np
import pytest
import skimage.data
import timm
import torch

from exporter.backbones import BACKBONES, build_patch_features, lifted_onto_sphere
from patchcore.model import FeatureExtractor

LITE0 = BACKBONES["efficientnet_lite0"]
# Mean nearest-patch cosine similarity must be this much higher for the same scene than for another one.
# Measured with graph version 3: ~0.20 with the real weights, ~0.02 with random ones.
MIN_SIMILARITY_GAP = 0.1
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


STRIDE8_CHANNELS = 40  # EfficientNet-Lite0's stride-8 stage; the next 112 channels come from stride 16
STRIDE16_CHANNELS = 112


def test_the_lift_keeps_unit_length_and_the_euclidean_distance_near_the_origin():
    near = torch.tensor([[0.0, 0.0], [0.01, 0.0]])

    lifted = lifted_onto_sphere(near)

    np.testing.assert_allclose(torch.linalg.norm(lifted, dim=-1), 1.0, atol=1e-6)
    assert torch.linalg.norm(lifted[0] - lifted[1]).item() == pytest.approx(0.02, rel=1e-3)


def test_patches_that_differ_only_in_strength_stay_apart():
    """An L2 normalisation would map a patch and the same patch twice as strong onto one vector."""
    weak, strong = lifted_onto_sphere(torch.tensor([[0.3, 0.4], [0.6, 0.8]]))

    assert torch.linalg.norm(weak - strong).item() > 0.3


class OneActiveCell(torch.nn.Module):
    """Stands in for the stride-16 stage: a [B, 112, 14, 14] map, zero but for one cell."""

    def __init__(self, row: int, col: int) -> None:
        super().__init__()
        self.row, self.col = row, col

    def forward(self, stride8: torch.Tensor) -> torch.Tensor:
        cells = torch.zeros(stride8.shape[0], STRIDE16_CHANNELS, 14, 14)
        cells[:, :, self.row, self.col] = 1.0
        return cells


def test_the_stride16_map_is_averaged_on_the_stride8_grid():
    """One active stride-16 cell (row 7) reaches the stride-8 rows its bilinear upsampling touches (13..16)
    and one more on each side from the 3x3 averaging there: rows 12..17. Averaging 3x3 stride-16 cells
    before upsampling (48-pixel windows) would reach rows 11..18."""
    torch.manual_seed(0)
    module = build_patch_features(LITE0, timm.create_model(LITE0.timm_name).state_dict(), 224)
    module.to_stride16 = OneActiveCell(row=7, col=7)
    with torch.no_grad():
        features = module(torch.zeros((1, 224, 224, 3), dtype=torch.uint8)).numpy()

    stride16 = features[0, :, STRIDE8_CHANNELS : STRIDE8_CHANNELS + STRIDE16_CHANNELS]
    coarse = np.linalg.norm(stride16, axis=-1).reshape(28, 28)
    reached = np.flatnonzero(coarse[:, 14] > 1e-6)
    assert (reached.min(), reached.max()) == (12, 17)
