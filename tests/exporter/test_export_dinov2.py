"""DINOv2-S (random weights: structure and parity only) exported at 224 and 448 follows the model contract."""

import re

import numpy as np
import onnx
import pytest

from exporter.export import export_model
from exporter.metadata import read_metadata
from exporter.onnx_export import PARITY_LIMIT
from patchcore.model import FeatureExtractor

CONTRACT_KEYS = {
    "backbone", "weights_source", "weights_sha256", "input_size", "grid", "dim", "exporter_version",
    "quantization", "parity_max_abs", "fingerprint",
}  # fmt: skip
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=[(224, 16), (448, 32)], ids=["224", "448"])
def exported(request, dinov2_model_dir, meta_weights_file):
    """(model path, size, grid side)."""
    size, grid = request.param
    path = export_model("dinov2_vits14", size, dinov2_model_dir, weights=meta_weights_file)
    return path, size, grid


@pytest.fixture(scope="module")
def extractor(exported) -> FeatureExtractor:
    return FeatureExtractor(exported[0])


def test_file_is_named_after_backbone_and_size(exported):
    path, size, _ = exported
    assert path.name == f"dinov2_vits14_{size}.onnx"


def test_metadata_describes_the_model(exported, meta_weights_file):
    path, size, grid = exported
    metadata = read_metadata(path)

    assert set(metadata) == CONTRACT_KEYS
    assert metadata["backbone"] == "dinov2_vits14"
    assert metadata["weights_source"] == f"file:{meta_weights_file.name}"
    assert (metadata["input_size"], metadata["grid"], metadata["dim"]) == (str(size), f"{grid}x{grid}", "384")
    assert metadata["quantization"] == "none"
    assert 0 <= float(metadata["parity_max_abs"]) <= PARITY_LIMIT
    assert re.fullmatch(r"[0-9a-f]{64}", metadata["fingerprint"])


def test_graph_has_fixed_size_and_dynamic_batch(exported):
    path, size, _ = exported
    graph = onnx.load(str(path)).graph
    (images,) = graph.input
    dims = images.type.tensor_type.shape.dim

    assert images.name == "images" and images.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [size, size, 3]
    assert [output.name for output in graph.output] == ["features"]


@pytest.mark.parametrize("batch", [1, 3])
def test_features_are_unit_patch_embeddings(exported, extractor, batch):
    _, size, grid = exported
    images = np.random.default_rng(batch).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)

    features = extractor.extract(images)

    assert features.shape == (batch, grid * grid, 384) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=-1), 1.0, atol=1e-5)


def test_a_batch_gives_each_image_its_own_features(exported, extractor):
    _, size, _ = exported
    images = np.random.default_rng(5).integers(0, 256, (2, size, size, 3), dtype=np.uint8)

    together = extractor.extract(images)

    np.testing.assert_allclose(together[1], extractor.extract(images[1:])[0], atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-3)
