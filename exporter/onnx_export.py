"""Tracing a contract module to ONNX and checking the graph against torch before anything is written."""

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from patchcore.errors import ModelError
from patchcore.model import FINE_OUTPUT_NAME, OUTPUT_NAME

OPSET = 17
# The graph must reproduce torch to this max abs difference on unit-length features, or it is not written.
PARITY_LIMIT = 1e-4
PARITY_BATCHES = (1, 3)
OUTPUT_NAMES = (OUTPUT_NAME, FINE_OUTPUT_NAME)


def output_names(module: nn.Module, size: int) -> list[str]:
    """The graph's output names: "features", and "fine_features" for a module that also gives the stride-4
    cells."""
    with torch.no_grad():
        outputs = module(torch.zeros((1, size, size, 3), dtype=torch.uint8))
    return list(OUTPUT_NAMES[: len(outputs) if isinstance(outputs, tuple) else 1])


def trace_to_onnx(module: nn.Module, size: int) -> onnx.ModelProto:
    """The graph of `module`: input "images" [batch, size, size, 3] uint8, outputs "features"
    [batch, h*w, dim] float32 (and "fine_features" [batch, cells, fine_dim] where the module gives them);
    dynamic batch, fixed spatial size."""
    example = torch.zeros((2, size, size, 3), dtype=torch.uint8)
    outputs = output_names(module, size)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter announces its deprecation, and timm's shape asserts are traced as
        # constants; both are expected for a fixed input size.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            (example,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=["images"],
            output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in ["images", *outputs]},
        )
    return onnx.load_from_string(buffer.getvalue())


def random_images(batch: int, size: int, seed: int) -> np.ndarray:
    """[batch, size, size, 3] uint8 noise."""
    return np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)


def session_for(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def torch_outputs(module: nn.Module, images: np.ndarray) -> list[np.ndarray]:
    """images: [B, S, S, 3] uint8 -> the module's outputs as float32 arrays, features first."""
    with torch.no_grad():
        outputs = module(torch.from_numpy(images))
    return [output.numpy() for output in (outputs if isinstance(outputs, tuple) else (outputs,))]


def measure_parity(module: nn.Module, model: onnx.ModelProto, size: int) -> float:
    """Largest absolute difference between ONNX Runtime and torch outputs on random images, over several
    batch sizes (the batch axis is dynamic, so more than one is exercised)."""
    session = session_for(model)
    worst = 0.0
    for seed, batch in enumerate(PARITY_BATCHES):
        images = random_images(batch, size, seed)
        found = session.run(None, {"images": images})
        for onnx_output, torch_output in zip(found, torch_outputs(module, images), strict=True):
            worst = max(worst, float(np.abs(onnx_output - torch_output).max()))
    return worst


def require_parity(max_abs: float, name: str) -> None:
    if not max_abs <= PARITY_LIMIT:
        raise ModelError(
            f"The ONNX graph for {name} differs from torch by {max_abs:.3g} (limit {PARITY_LIMIT:g}); "
            "nothing was written. Try another onnxruntime or torch version."
        )
