"""DINOv2-S weight files built from a random-initialised timm model, in Meta's and Hugging Face's layouts.
They test structure, key mapping and parity only; random weights say nothing about accuracy."""

import re
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from exporter.backbones import BACKBONES

DINOV2 = BACKBONES["dinov2_vits14"]

# timm name -> Hugging Face Dinov2Model name (qkv is split separately).
_TIMM_TO_HF = [
    (r"^cls_token$", "embeddings.cls_token"),
    (r"^pos_embed$", "embeddings.position_embeddings"),
    (r"^patch_embed\.proj\.", "embeddings.patch_embeddings.projection."),
    (r"^blocks\.(\d+)\.attn\.proj\.", r"encoder.layer.\1.attention.output.dense."),
    (r"^blocks\.(\d+)\.ls(\d)\.gamma$", r"encoder.layer.\1.layer_scale\2.lambda1"),
    (r"^blocks\.(\d+)\.", r"encoder.layer.\1."),
    (r"^norm\.", "layernorm."),
]
_QKV = re.compile(r"^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$")


def to_hf_layout(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A timm-layout DINOv2 state dict as Hugging Face's facebook/dinov2-small stores it."""
    converted = {"embeddings.mask_token": torch.zeros(1, DINOV2.dim)}
    for key, tensor in state_dict.items():
        qkv = _QKV.match(key)
        if qkv:
            layer, kind = qkv.groups()
            for part, chunk in zip(("query", "key", "value"), tensor.chunk(3), strict=True):
                converted[f"encoder.layer.{layer}.attention.attention.{part}.{kind}"] = chunk.clone()
            continue
        for pattern, replacement in _TIMM_TO_HF:
            new_key, count = re.subn(pattern, replacement, key)
            if count:
                converted[new_key] = tensor.clone()
                break
    return converted


@pytest.fixture(scope="session")
def dinov2_random_state() -> dict[str, torch.Tensor]:
    """A seeded random timm DINOv2-S state dict at the checkpoints' 518 px (37x37 position grid). Layer
    scales are raised from timm's 1e-5 init to 0.5 so that every block changes the features (parity and
    layout tests would otherwise only exercise the patch embedding)."""
    torch.manual_seed(0)
    state_dict = timm.create_model(DINOV2.timm_name, pretrained=False).state_dict()
    return {key: torch.full_like(t, 0.5) if key.endswith(".gamma") else t for key, t in state_dict.items()}


@pytest.fixture(scope="session")
def meta_weights_file(tmp_path_factory: pytest.TempPathFactory, dinov2_random_state) -> Path:
    """Meta's layout: timm's names plus the (unused) mask_token, as dinov2_vits14_pretrain.pth."""
    path = tmp_path_factory.mktemp("meta") / "dinov2_vits14_pretrain.pth"
    torch.save({**dinov2_random_state, "mask_token": torch.zeros(1, DINOV2.dim)}, path)
    return path


@pytest.fixture(scope="session")
def hf_weights_file(tmp_path_factory: pytest.TempPathFactory, dinov2_random_state) -> Path:
    path = tmp_path_factory.mktemp("hf") / "model.safetensors"
    save_file(to_hf_layout(dinov2_random_state), str(path))
    return path


@pytest.fixture(scope="session")
def dinov2_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the DINOv2 exports of the session, so later tests reuse earlier exports."""
    return tmp_path_factory.mktemp("dinov2")
