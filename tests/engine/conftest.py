"""Engine test fixtures: a tiny hand-made ONNX model that follows the model contract, and textures.

The tiny model (random 8x8 stride-8 convolution, tanh, 3x3 average aggregation, L2 norm) runs in
milliseconds, so most engine tests do not depend on the exported backbones.
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from skimage import data as skimage_data
from tiny_model import write_tiny_model

from patchcore.bank import MemoryBank, ProductOptions, TeachOptions, TeachStats
from patchcore.images import ScaledImage
from patchcore.inspection import inspect
from patchcore.model import FeatureExtractor
from patchcore.scoring import Scorer
from patchcore.teach import teach_images
from patchcore.verdict import Verdict


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny_model") / "tiny_test_64.onnx")


@pytest.fixture(scope="session")
def brick() -> np.ndarray:
    """[512, 512, 3] uint8 RGB brick-wall texture."""
    gray = skimage_data.brick()
    return np.repeat(gray[:, :, None], 3, axis=2)


def _crops(texture: np.ndarray, count: int, size: int, seed: int) -> list[np.ndarray]:
    """count random size x size crops of texture (different parts of the same surface)."""
    rng = np.random.default_rng(seed)
    height, width = texture.shape[:2]
    tops = rng.integers(0, height - size, count)
    lefts = rng.integers(0, width - size, count)
    return [
        texture[top : top + size, left : left + size].copy() for top, left in zip(tops, lefts, strict=True)
    ]


def _plant_blob(image: np.ndarray, centre: tuple[int, int], radius: int) -> np.ndarray:
    """A copy of image with a saturated red disc (a contrasting defect) at centre (y, x)."""
    rows, cols = np.ogrid[: image.shape[0], : image.shape[1]]
    disc = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2
    planted = image.copy()
    planted[disc] = (255, 0, 0)
    return planted


@pytest.fixture(scope="session")
def brick_crops(brick: np.ndarray) -> list[np.ndarray]:
    """10 different 256x256 crops of the brick texture: teach with the first 8, test with the rest."""
    return _crops(brick, count=10, size=256, seed=0)


@pytest.fixture
def plant_blob():
    """plant_blob(image, centre (y, x), radius) -> copy with a saturated red disc: a contrasting defect."""
    return _plant_blob


def _make_bank(product_id: str = "widget", version: int = 1, rows: int = 50) -> MemoryBank:
    vectors = np.random.default_rng(version).standard_normal((rows, 16)).astype(np.float32)
    return MemoryBank(
        product_id=product_id,
        version=version,
        model_fingerprint="ab" * 32,
        vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
        options=ProductOptions(threshold=0.1234567890123, top_k=3, min_region_area=20),
        teach_options=TeachOptions(coreset_ratio=0.25, augment_rotations=True, threshold_scale=1.1, seed=9),
        stats=TeachStats(
            image_count=8,
            patch_count=2048,
            bank_size=rows,
            teach_seconds=1.5,
            leave_one_out_scores=[0.1, 0.2 / 3],
            timings={"extract_seconds": 0.25},
        ),
        created_unix=1_700_000_000,
    )


@pytest.fixture
def make_bank():
    """make_bank(product_id="widget", version=1, rows=50) -> a MemoryBank with every field set."""
    return _make_bank


@pytest.fixture(scope="session")
def tiny_model_writer():
    """tiny_model_writer(path, seed=0, drop_key=None) -> Path: a tiny model with other weights or without a
    metadata key."""
    return write_tiny_model


@pytest.fixture(scope="session")
def tiny_extractor(tiny_model: Path) -> FeatureExtractor:
    return FeatureExtractor(tiny_model, intra_op_threads=1)


@pytest.fixture(scope="session")
def brick_bank(tiny_extractor: FeatureExtractor, brick_crops: list[np.ndarray]) -> MemoryBank:
    """The brick texture taught from its first 8 crops with the tiny model, default options but no line
    views (plain PatchCore: a training image's own patches are in the bank)."""
    return teach_images(tiny_extractor, brick_crops[:8], "brick", TeachOptions(line_views=0))


def _frame_scorer(extractor: FeatureExtractor, bank: MemoryBank) -> Callable[..., Verdict]:
    scorer = Scorer(bank, extractor.info)

    def score_frame(rgb: np.ndarray, want_heatmap: bool = True) -> Verdict:
        return inspect(extractor, scorer, ScaledImage.full(rgb), want_heatmap)

    return score_frame


@pytest.fixture(scope="session")
def frame_scorer():
    """frame_scorer(extractor, bank) -> score_frame(rgb, want_heatmap=True) -> Verdict of the engine's
    inspection pipeline for a full-size frame."""
    return _frame_scorer
