"""--quantize int8: DINOv2's MatMuls become int8 within the angular bound; EfficientNet-Lite is refused."""

import re
import shutil

import numpy as np
import onnx
import pytest

from exporter.export import export_model
from exporter.metadata import read_metadata
from exporter.quantize import INT8_MIN_MEAN_COSINE, quantize_int8
from patchcore.errors import InvalidInput
from patchcore.model import FeatureExtractor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int8_model(dinov2_model_dir, meta_weights_file):
    return export_model("dinov2_vits14", 224, dinov2_model_dir, weights=meta_weights_file, quantize="int8")


def test_int8_model_sits_beside_the_fp32_one(int8_model):
    assert int8_model.name == "dinov2_vits14_224_int8.onnx"
    assert (int8_model.parent / "dinov2_vits14_224.onnx").exists()


def test_int8_metadata_has_its_own_fingerprint(int8_model):
    metadata = read_metadata(int8_model)
    fp32_metadata = read_metadata(int8_model.parent / "dinov2_vits14_224.onnx")

    assert metadata["quantization"] == "int8"
    assert re.fullmatch(r"[0-9a-f]{64}", metadata["fingerprint"])
    assert metadata["fingerprint"] != fp32_metadata["fingerprint"]
    assert metadata["weights_sha256"] == fp32_metadata["weights_sha256"]
    assert float(metadata["parity_max_abs"]) > 0


def test_int8_graph_multiplies_in_int8(int8_model):
    assert any(node.op_type == "MatMulInteger" for node in onnx.load(str(int8_model)).graph.node)


def test_int8_features_stay_close_to_fp32(int8_model):
    images = np.random.default_rng(11).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    fp32 = FeatureExtractor(int8_model.parent / "dinov2_vits14_224.onnx").extract(images)

    int8 = FeatureExtractor(int8_model).extract(images)

    assert int8.shape == fp32.shape
    assert (int8 * fp32).sum(axis=-1).mean() >= INT8_MIN_MEAN_COSINE


def test_lite_is_refused_and_nothing_is_written(lite0_model, tmp_path):
    fp32 = tmp_path / lite0_model.name
    shutil.copy(lite0_model, fp32)

    with pytest.raises(InvalidInput, match="no matrix multiplications"):
        quantize_int8(fp32, tmp_path / "efficientnet_lite0_224_int8.onnx")
    assert [p.name for p in tmp_path.iterdir()] == [lite0_model.name]
