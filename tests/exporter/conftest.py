"""DINOv2-S weight files built from a random-initialised timm model, in Meta's and Hugging Face's layouts.
They test structure, key mapping and parity only; random weights say nothing about accuracy."""

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from exporter.backbones import BACKBONES

DINOV2 = BACKBONES["dinov2_vits14"]

# The tensors of Hugging Face's facebook/dinov2-small (transformers Dinov2Model): name, shape, and the timm
# tensor that holds the same weights (with the part of timm's fused qkv for query, key and value). Written out
# from the published model, not derived from the exporter's rename table, so a wrong name there is caught.
_HF_DINOV2_SMALL = [
    ("embeddings.cls_token", (1, 1, 384), "cls_token"),
    ("embeddings.mask_token", (1, 384), None),  # masked image modelling only; zeros here
    ("embeddings.position_embeddings", (1, 1370, 384), "pos_embed"),  # 518 px: 37 x 37 patches + class
    ("embeddings.patch_embeddings.projection.weight", (384, 3, 14, 14), "patch_embed.proj.weight"),
    ("embeddings.patch_embeddings.projection.bias", (384,), "patch_embed.proj.bias"),
    ("layernorm.weight", (384,), "norm.weight"),
    ("layernorm.bias", (384,), "norm.bias"),
]
_HF_DINOV2_SMALL_LAYER = [  # for each of the 12 layers, {i} = 0..11
    ("encoder.layer.{i}.norm1.weight", (384,), "blocks.{i}.norm1.weight"),
    ("encoder.layer.{i}.norm1.bias", (384,), "blocks.{i}.norm1.bias"),
    ("encoder.layer.{i}.attention.attention.query.weight", (384, 384), ("blocks.{i}.attn.qkv.weight", 0)),
    ("encoder.layer.{i}.attention.attention.query.bias", (384,), ("blocks.{i}.attn.qkv.bias", 0)),
    ("encoder.layer.{i}.attention.attention.key.weight", (384, 384), ("blocks.{i}.attn.qkv.weight", 1)),
    ("encoder.layer.{i}.attention.attention.key.bias", (384,), ("blocks.{i}.attn.qkv.bias", 1)),
    ("encoder.layer.{i}.attention.attention.value.weight", (384, 384), ("blocks.{i}.attn.qkv.weight", 2)),
    ("encoder.layer.{i}.attention.attention.value.bias", (384,), ("blocks.{i}.attn.qkv.bias", 2)),
    ("encoder.layer.{i}.attention.output.dense.weight", (384, 384), "blocks.{i}.attn.proj.weight"),
    ("encoder.layer.{i}.attention.output.dense.bias", (384,), "blocks.{i}.attn.proj.bias"),
    ("encoder.layer.{i}.layer_scale1.lambda1", (384,), "blocks.{i}.ls1.gamma"),
    ("encoder.layer.{i}.norm2.weight", (384,), "blocks.{i}.norm2.weight"),
    ("encoder.layer.{i}.norm2.bias", (384,), "blocks.{i}.norm2.bias"),
    ("encoder.layer.{i}.mlp.fc1.weight", (1536, 384), "blocks.{i}.mlp.fc1.weight"),
    ("encoder.layer.{i}.mlp.fc1.bias", (1536,), "blocks.{i}.mlp.fc1.bias"),
    ("encoder.layer.{i}.mlp.fc2.weight", (384, 1536), "blocks.{i}.mlp.fc2.weight"),
    ("encoder.layer.{i}.mlp.fc2.bias", (384,), "blocks.{i}.mlp.fc2.bias"),
    ("encoder.layer.{i}.layer_scale2.lambda1", (384,), "blocks.{i}.ls2.gamma"),
]
HF_DINOV2_SMALL_TENSOR_COUNT = 223  # 7 + 12 x 18


def _layer_entries(layer: int) -> list[tuple[str, tuple[int, ...], object]]:
    def named(text: str) -> str:
        return text.format(i=layer)

    return [
        (named(name), shape, (named(source[0]), source[1]) if isinstance(source, tuple) else named(source))
        for name, shape, source in _HF_DINOV2_SMALL_LAYER
    ]


def to_hf_layout(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A timm-layout DINOv2-S state dict (at 518 px) as facebook/dinov2-small's model.safetensors holds it."""
    entries = _HF_DINOV2_SMALL + [entry for layer in range(12) for entry in _layer_entries(layer)]
    converted = {}
    for name, shape, source in entries:
        if source is None:
            tensor = torch.zeros(shape)
        elif isinstance(source, tuple):
            tensor = state_dict[source[0]].chunk(3)[source[1]]
        else:
            tensor = state_dict[source]
        assert tuple(tensor.shape) == shape, f"{name} is {shape} in facebook/dinov2-small"
        converted[name] = tensor.clone()
    assert len(converted) == HF_DINOV2_SMALL_TENSOR_COUNT
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
