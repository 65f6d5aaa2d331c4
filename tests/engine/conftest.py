"""Engine test fixtures: a tiny hand-made ONNX model that follows the model contract, and textures.

The tiny model (random 8x8 stride-8 convolution, tanh, 3x3 average aggregation, L2 norm) runs in
milliseconds, so most engine tests do not depend on the exported backbones.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from skimage import data as skimage_data

from patchcore.bank import MemoryBank, ProductOptions, TeachOptions, TeachStats
from patchcore.images import resize_square
from patchcore.model import FeatureExtractor
from patchcore.scoring import FrameResult, Scorer
from patchcore.teach import teach

TINY_SIZE = 64
TINY_STRIDE = 8
TINY_DIM = 32


def _tiny_graph(seed: int) -> onnx.GraphProto:
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((TINY_DIM, 3, TINY_STRIDE, TINY_STRIDE)).astype(np.float32) * 0.1
    bias = rng.standard_normal(TINY_DIM).astype(np.float32) * 0.1
    initializers = [
        numpy_helper.from_array(weights, "conv_w"),
        numpy_helper.from_array(bias, "conv_b"),
        numpy_helper.from_array(np.array(1 / 255, dtype=np.float32), "inv_255"),
        numpy_helper.from_array(np.array([0, TINY_DIM, -1], dtype=np.int64), "grid_shape"),
    ]
    nodes = [
        helper.make_node("Cast", ["images"], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["as_float"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["nchw", "inv_255"], ["scaled"]),
        helper.make_node("Conv", ["scaled", "conv_w", "conv_b"], ["conv"], strides=[TINY_STRIDE] * 2),
        helper.make_node("Tanh", ["conv"], ["activated"]),
        helper.make_node("AveragePool", ["activated"], ["pooled"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["pooled", "grid_shape"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["patches"], perm=[0, 2, 1]),
        helper.make_node("LpNormalization", ["patches"], ["features"], axis=-1, p=2),
    ]
    grid = TINY_SIZE // TINY_STRIDE
    return helper.make_graph(
        nodes,
        "tiny_patch_features",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", TINY_SIZE, TINY_SIZE, 3])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", grid * grid, TINY_DIM])],
        initializers,
    )


def write_tiny_model(path: Path, seed: int = 0, drop_key: str | None = None) -> Path:
    """Write the tiny model with contract metadata to path; drop_key leaves one metadata key out."""
    graph = _tiny_graph(seed)
    grid = TINY_SIZE // TINY_STRIDE
    weights_sha256 = hashlib.sha256(b"".join(init.raw_data for init in graph.initializer)).hexdigest()
    metadata = {
        "backbone": "tiny_test",
        "weights_source": f"random seed {seed}",
        "weights_sha256": weights_sha256,
        "input_size": str(TINY_SIZE),
        "grid": f"{grid}x{grid}",
        "dim": str(TINY_DIM),
        "exporter_version": "test",
        "quantization": "none",
        "parity_max_abs": "0",
    }
    fields = ("backbone", "weights_sha256", "input_size", "grid", "dim", "exporter_version", "quantization")
    metadata["fingerprint"] = hashlib.sha256("|".join(metadata[key] for key in fields).encode()).hexdigest()
    metadata.pop(drop_key, None)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


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
    """The brick texture taught from its first 8 crops with the tiny model and default options."""
    return teach(tiny_extractor, brick_crops[:8], "brick", TeachOptions())


def _frame_scorer(extractor: FeatureExtractor, bank: MemoryBank) -> Callable[..., FrameResult]:
    scorer = Scorer(bank, extractor.info)

    def score_frame(rgb: np.ndarray, want_heatmap: bool = True) -> FrameResult:
        features = extractor.extract(resize_square(rgb, extractor.info.input_size)[None])
        return scorer.result(scorer.patch_scores(features)[0], rgb.shape[:2], want_heatmap)

    return score_frame


@pytest.fixture(scope="session")
def frame_scorer():
    """frame_scorer(extractor, bank) -> score_frame(rgb, want_heatmap=True) -> FrameResult, the way the
    server scores one frame."""
    return _frame_scorer
