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
# Measured with graph version 4: ~0.20 with the real weights, ~0.02 with random ones.
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


@pytest.fixture
def random_lite0() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_patch_features(LITE0, timm.create_model(LITE0.timm_name).state_dict(), 224)


def test_random_weights_fail_the_same_check(photos, random_lite0):
    with torch.no_grad():
        features = random_lite0(torch.from_numpy(photos))[0].numpy()

    assert similarity_gap(features) < MIN_SIMILARITY_GAP


# EfficientNet-Lite0's stages in the order of the patch vector: stride 4, stride 8, stride 16.
STRIDE4_CHANNELS = 24
STRIDE8_CHANNELS = 40
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
    """Stands in for a stage: a [B, channels, side, side] map, zero but for one cell."""

    def __init__(self, channels: int, side: int, row: int, col: int) -> None:
        super().__init__()
        self.channels, self.side, self.row, self.col = channels, side, row, col

    def forward(self, earlier_stage: torch.Tensor) -> torch.Tensor:
        cells = torch.zeros(earlier_stage.shape[0], self.channels, self.side, self.side)
        cells[:, :, self.row, self.col] = 1.0
        return cells


def rows_reached(module: torch.nn.Module, first_channel: int, channels: int) -> tuple[int, int]:
    """The first and last row of the 28x28 patch grid (column 14) where these channels are not zero for a
    black image."""
    with torch.no_grad():
        features = module(torch.zeros((1, 224, 224, 3), dtype=torch.uint8))[0].numpy()
    layer = np.linalg.norm(features[0, :, first_channel : first_channel + channels], axis=-1).reshape(28, 28)
    reached = np.flatnonzero(layer[:, 14] > 1e-6)
    return int(reached.min()), int(reached.max())


def test_the_stride16_map_is_averaged_on_the_stride8_grid(random_lite0):
    """One active stride-16 cell (row 7) reaches the stride-8 rows its bilinear upsampling touches (13..16)
    and one more on each side from the 3x3 averaging there: rows 12..17. Averaging 3x3 stride-16 cells
    before upsampling (48-pixel windows) would reach rows 11..18."""
    random_lite0.to_stride16 = OneActiveCell(STRIDE16_CHANNELS, 14, row=7, col=7)

    assert rows_reached(random_lite0, STRIDE4_CHANNELS + STRIDE8_CHANNELS, STRIDE16_CHANNELS) == (12, 17)


def test_the_stride4_map_is_averaged_at_its_own_grid_and_then_onto_the_stride8_grid(random_lite0):
    """One active stride-4 cell (row 29 of 56) spreads over rows 28..30 by the 3x3 averaging, and the 2x2
    averaging puts those into stride-8 rows 14 and 15 (rows 28-29 and 30-31 of the stride-4 grid)."""
    random_lite0.to_stride4 = OneActiveCell(STRIDE4_CHANNELS, 56, row=29, col=29)

    assert rows_reached(random_lite0, 0, STRIDE4_CHANNELS) == (14, 15)


def test_the_fine_output_keeps_each_stride4_cell_on_its_own(random_lite0):
    """One active stride-4 cell (row 29, column 30 of 56) is one fine cell that differs from the others,
    at its own place: no averaging spreads it."""
    random_lite0.to_stride4 = OneActiveCell(STRIDE4_CHANNELS, 56, row=29, col=30)
    with torch.no_grad():
        _, fine = random_lite0(torch.zeros((1, 224, 224, 3), dtype=torch.uint8))

    cells = fine[0].numpy().reshape(56, 56, STRIDE4_CHANNELS + 1)
    differs = np.linalg.norm(cells - cells[0, 0], axis=-1) > 1e-6
    assert np.argwhere(differs).tolist() == [[29, 30]]
    np.testing.assert_allclose(np.linalg.norm(cells, axis=-1), 1.0, atol=1e-5)


def test_the_exported_model_gives_its_fine_cells_from_the_same_run(lite0_model, photos):
    extractor = FeatureExtractor(lite0_model)

    features, fine = extractor.extract_with_fine(photos)

    assert (extractor.info.fine_grid, extractor.info.fine_dim) == ((56, 56), 25)
    assert fine.shape == (3, 56 * 56, 25)
    np.testing.assert_allclose(np.linalg.norm(fine, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(features, extractor.extract(photos), atol=1e-6)
