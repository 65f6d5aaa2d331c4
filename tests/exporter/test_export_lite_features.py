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


STRIDE8_CHANNELS = 40  # EfficientNet-Lite0's stride-8 stage; the other 112 channels come from stride 16


def test_each_layer_holds_half_of_the_unit_length(lite0_model, photos):
    """Stride 8 and stride 16 weigh the same in the cosine distance, whatever their activations' scale."""
    features = FeatureExtractor(lite0_model).extract(photos)

    fine = np.linalg.norm(features[..., :STRIDE8_CHANNELS], axis=-1)
    coarse = np.linalg.norm(features[..., STRIDE8_CHANNELS:], axis=-1)
    np.testing.assert_allclose(fine, np.sqrt(0.5), atol=1e-5)
    np.testing.assert_allclose(coarse, np.sqrt(0.5), atol=1e-5)


class OneActiveCell(torch.nn.Module):
    """Stands in for the stride-16 stage: a [B, 112, 14, 14] map, zero but for one cell."""

    def __init__(self, row: int, col: int) -> None:
        super().__init__()
        self.row, self.col = row, col

    def forward(self, stride8: torch.Tensor) -> torch.Tensor:
        cells = torch.zeros(stride8.shape[0], 112, 14, 14)
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

    coarse = np.linalg.norm(features[0, :, STRIDE8_CHANNELS:], axis=-1).reshape(28, 28)
    reached = np.flatnonzero(coarse[:, 14] > 1e-6)
    assert (reached.min(), reached.max()) == (12, 17)
