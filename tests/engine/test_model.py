import os
import subprocess
import sys

import numpy as np
import pytest

from patchcore import model as model_module
from patchcore.errors import InvalidInput, ModelError
from patchcore.model import FeatureExtractor, read_model_info


def test_model_info_comes_from_the_metadata(tiny_model):
    info = read_model_info(tiny_model)
    assert (info.backbone, info.input_size, info.grid, info.dim) == ("tiny_test", 64, (8, 8), 32)
    assert len(info.fingerprint) == 64 and info.metadata["quantization"] == "none"


def test_extractor_gives_unit_patch_features_for_a_batch(tiny_model):
    extractor = FeatureExtractor(tiny_model, intra_op_threads=1)
    assert extractor.info == read_model_info(tiny_model)
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    features = extractor.extract(images)
    assert features.shape == (3, 64, 32) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=2), 1.0, atol=1e-5)
    np.testing.assert_allclose(extractor.extract(images[1:2])[0], features[1], atol=1e-6)


def test_a_batch_over_the_pixels_of_one_model_run_is_run_in_parts_with_the_same_features(
    tiny_model, monkeypatch
):
    monkeypatch.setattr(model_module, "MAX_PIXELS_PER_RUN", 3 * 64 * 64)
    extractor = FeatureExtractor(tiny_model, intra_op_threads=1)
    run_sizes = []
    session_run = extractor._session.run

    def recording_run(outputs, feeds):
        run_sizes.append(len(feeds["images"]))
        return session_run(outputs, feeds)

    monkeypatch.setattr(extractor._session, "run", recording_run)
    images = np.random.default_rng(1).integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)

    features = extractor.extract(images)

    assert run_sizes == [3, 3, 1] and features.shape == (7, 64, 32)
    for index in (0, 4, 6):
        alone = extractor.extract(images[index : index + 1])[0]
        np.testing.assert_allclose(alone, features[index], atol=1e-6)


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((1, 32, 32, 3), np.uint8),
        np.zeros((64, 64, 3), np.uint8),
        np.zeros((1, 64, 64, 3), np.float32),
    ],
)
def test_wrong_input_shape_or_type_is_invalid_input(tiny_model, images):
    with pytest.raises(InvalidInput, match="64x64"):
        FeatureExtractor(tiny_model).extract(images)


def test_missing_metadata_is_a_model_error(tmp_path, tiny_model_writer):
    path = tiny_model_writer(tmp_path / "no_grid.onnx", drop_key="grid")
    with pytest.raises(ModelError, match="grid"):
        read_model_info(path)
    with pytest.raises(ModelError, match="grid"):
        FeatureExtractor(path)


def test_missing_or_damaged_file_is_a_model_error(tmp_path):
    (tmp_path / "damaged.onnx").write_bytes(b"not a model")
    for path in (tmp_path / "missing.onnx", tmp_path / "damaged.onnx"):
        with pytest.raises(ModelError):
            read_model_info(path)
        with pytest.raises(ModelError):
            FeatureExtractor(path)


def test_other_weights_give_another_fingerprint(tmp_path, tiny_model, tiny_model_writer):
    other = tiny_model_writer(tmp_path / "other.onnx", seed=1)
    assert read_model_info(other).fingerprint != read_model_info(tiny_model).fingerprint


def test_onnx_runtime_keeps_no_telemetry_and_makes_no_lookups(tiny_model, tmp_path):
    """ONNX Runtime's builds queue usage telemetry under $XDG_CACHE_HOME (else $HOME/.cache)/Microsoft and
    send it to Microsoft unless told not to before they are imported; the engine tells them."""
    program = (
        "import sys; from patchcore.model import FeatureExtractor; "
        "FeatureExtractor(sys.argv[1], intra_op_threads=1)"
    )
    environment = {key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"}
    subprocess.run(
        [sys.executable, "-c", program, str(tiny_model)],
        env={**environment, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "cache")},
        check=True,
    )
    assert not (tmp_path / "cache" / "Microsoft").exists()
    assert not (tmp_path / "home" / ".cache" / "Microsoft").exists()
