"""Reading checkpoint files and checking them against a timm model, name by name and shape by shape.

A silently half-loaded backbone would still export and still produce unit vectors, just useless ones, so
every weight source refuses a mismatch and names the offending tensors."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file as load_safetensors

from patchcore.errors import ModelError

MAX_NAMED = 5


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


def name_some(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_NAMED])
    return shown + (f" and {len(keys) - MAX_NAMED} more" if len(keys) > MAX_NAMED else "")


def reference_shapes(timm_name: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a timm model's state dict, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        model = timm.create_model(timm_name, pretrained=False)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def check_names(
    state_dict: dict[str, torch.Tensor], reference: dict[str, tuple[int, ...]], what: str
) -> None:
    missing = [key for key in reference if key not in state_dict]
    unexpected = [key for key in state_dict if key not in reference]
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {name_some(missing)}")
        if unexpected:
            problems.append(f"unexpected {name_some(unexpected)}")
        raise ModelError(f"{what} does not match the backbone: {'; '.join(problems)}")


def refuse_wrong_shapes(wrong: list[str], what: str) -> None:
    """wrong: one "<name> has shape [..], expected [..]" line per mismatching tensor."""
    if wrong:
        raise ModelError(f"{what} does not match the backbone: {name_some(wrong)}")


def shape_problem(name: str, found: tuple[int, ...], expected: object) -> str:
    return f"{name} has shape {list(found)}, expected {expected}"
