"""DINOv2-S weights: a local file in Meta's, Hugging Face's or timm's layout, or the model hub."""

import math
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub import hf_hub_download

from exporter.backbones import BackboneSpec
from exporter.checkpoints import (
    Weights,
    WeightsUnavailable,
    check_names,
    read_state_dict,
    reference_shapes,
    refuse_wrong_shapes,
    sha256_of_file,
    shape_problem,
)
from patchcore.errors import ModelError

DINOV2_HUB_REPO = "timm/vit_small_patch14_dinov2.lvd142m"
HUB_PROBE_SECONDS = 3.0


# DINOv2: Meta's checkpoint already uses timm's names (plus an unused mask_token); Hugging Face's
# Dinov2Model uses its own names and keeps query/key/value as three matrices where timm has one qkv.
_HF_DINOV2_RENAMES = [
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.layer_scale(\d)\.lambda1$", r"blocks.\1.ls\2.gamma"),
    (r"^encoder\.layer\.(\d+)\.", r"blocks.\1."),
    (r"^layernorm\.", "norm."),
]
_HF_QKV = re.compile(r"^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$")
_UNUSED_DINOV2_KEYS = {"mask_token", "embeddings.mask_token"}


def _dinov2_from_hf_layout(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed: dict[str, torch.Tensor] = {}
    qkv_parts: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        qkv = _HF_QKV.match(key)
        if qkv:
            layer, part, kind = qkv.groups()
            qkv_parts.setdefault((layer, kind), {})[part] = tensor
            continue
        new_key = key
        for pattern, replacement in _HF_DINOV2_RENAMES:
            new_key, count = re.subn(pattern, replacement, new_key)
            if count:
                break
        renamed[new_key] = tensor
    for (layer, kind), parts in qkv_parts.items():
        if len(parts) != 3:
            absent = [p for p in ("query", "key", "value") if p not in parts]
            raise ModelError(
                f"Weights file lacks encoder.layer.{layer}.attention.attention.{absent[0]}.{kind}"
            )
        renamed[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return renamed


def _is_square_position_embedding(position: torch.Tensor, dim: int) -> bool:
    """position: [1, 1 + n*n, dim] for some n (one class token, an n x n patch grid)."""
    if position.dim() != 3 or position.shape[0] != 1 or position.shape[2] != dim:
        return False
    side = math.isqrt(max(position.shape[1] - 1, 0))
    return side > 0 and side * side == position.shape[1] - 1


def dinov2_state_dict(
    state_dict: dict[str, torch.Tensor], spec: BackboneSpec, what: str
) -> dict[str, torch.Tensor]:
    """Meta-, timm- or Hugging-Face-layout DINOv2 tensors -> timm layout, checked name by name and shape by
    shape. The position embedding may come at any square grid (518 px -> 37x37); it is resampled later."""
    unprefixed = {key.removeprefix("dinov2."): tensor for key, tensor in state_dict.items()}
    state_dict = {key: tensor for key, tensor in unprefixed.items() if key not in _UNUSED_DINOV2_KEYS}
    if any(key.startswith("embeddings.") for key in state_dict):
        state_dict = _dinov2_from_hf_layout(state_dict)
    reference = reference_shapes(spec.timm_name)
    check_names(state_dict, reference, what)
    wrong = [
        shape_problem(key, tuple(tensor.shape), list(reference[key]))
        for key, tensor in state_dict.items()
        if key != "pos_embed" and tuple(tensor.shape) != reference[key]
    ]
    if not _is_square_position_embedding(state_dict["pos_embed"], spec.dim):
        wrong.append(
            shape_problem("pos_embed", tuple(state_dict["pos_embed"].shape), f"[1, 1 + n*n, {spec.dim}]")
        )
    refuse_wrong_shapes(wrong, what)
    return state_dict


def dinov2_from_file(path: Path, spec: BackboneSpec) -> Weights:
    """Meta's dinov2_vits14_pretrain.pth, Hugging Face facebook/dinov2-small (model.safetensors or
    pytorch_model.bin), or a timm checkpoint."""
    if not path.is_file():
        raise ModelError(f"Weights file {path} does not exist")
    state_dict = dinov2_state_dict(read_state_dict(path), spec, f"Weights file {path}")
    return Weights(state_dict, f"file:{path.name}", sha256_of_file(path))


def _hub_reachable() -> bool:
    """A quick TCP probe, so an offline machine fails in milliseconds instead of minutes of retries."""
    endpoint = urlparse(hub_constants.ENDPOINT)
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((endpoint.hostname or "", port), timeout=HUB_PROBE_SECONDS).close()
    except OSError:
        return False
    return True


HOW_TO_SUPPLY_DINOV2 = (
    "To export DINOv2-S, copy Meta's dinov2_vits14_pretrain.pth or Hugging Face facebook/dinov2-small "
    "model.safetensors to this machine and run `make export WEIGHTS=/path/to/file` "
    "(or `python -m exporter --weights /path/to/file`)."
)


def dinov2_from_hub(spec: BackboneSpec) -> Weights:
    """timm's DINOv2 checkpoint from the Hugging Face hub, or from the local hub cache when offline."""
    reachable = _hub_reachable()
    try:
        path = Path(
            hf_hub_download(
                DINOV2_HUB_REPO, "model.safetensors", local_files_only=not reachable, etag_timeout=10
            )
        )
    except (OSError, ValueError) as error:
        reason = (
            f"downloading {DINOV2_HUB_REPO} from the model hub failed ({error})"
            if reachable
            else "the model hub is not reachable from this machine and its local cache holds no copy"
        )
        raise WeightsUnavailable(
            "DINOv2 weights could not be obtained: no weights file was given and "
            f"{reason}. {HOW_TO_SUPPLY_DINOV2}"
        ) from error
    state_dict = dinov2_state_dict(read_state_dict(path), spec, f"Hub checkpoint {DINOV2_HUB_REPO}")
    return Weights(state_dict, f"hub:{DINOV2_HUB_REPO}", sha256_of_file(path))
