"""Tracing a contract module to ONNX and checking the graph against torch before anything is written."""

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from patchcore.errors import ModelError

OPSET = 17
# The graph must reproduce torch to this max abs difference on unit-length features, or it is not written.
PARITY_LIMIT = 1e-4
PARITY_BATCHES = (1, 3)


def trace_to_onnx(module: nn.Module, size: int) -> onnx.ModelProto:
    """The graph of `module`: input "images" [batch, size, size, 3] uint8, output "features"
    [batch, h*w, dim] float32; dynamic batch, fixed spatial size."""
    example = torch.zeros((2, size, size, 3), dtype=torch.uint8)
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
            output_names=["features"],
            dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
        )
    return onnx.load_from_string(buffer.getvalue())


def random_images(batch: int, size: int, seed: int) -> np.ndarray:
    """[batch, size, size, 3] uint8 noise."""
    return np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)


def session_for(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def torch_features(module: nn.Module, images: np.ndarray) -> np.ndarray:
    """images: [B, S, S, 3] uint8 -> [B, h*w, dim] float32."""
    with torch.no_grad():
        return module(torch.from_numpy(images)).numpy()


def measure_parity(module: nn.Module, model: onnx.ModelProto, size: int) -> float:
    """Largest absolute difference between ONNX Runtime and torch features on random images, over
    several batch sizes (the batch axis is dynamic, so more than one is exercised)."""
    session = session_for(model)
    worst = 0.0
    for seed, batch in enumerate(PARITY_BATCHES):
        images = random_images(batch, size, seed)
        (onnx_features,) = session.run(["features"], {"images": images})
        worst = max(worst, float(np.abs(onnx_features - torch_features(module, images)).max()))
    return worst


def require_parity(max_abs: float, name: str) -> None:
    if not max_abs <= PARITY_LIMIT:
        raise ModelError(
            f"The ONNX graph for {name} differs from torch by {max_abs:.3g} (limit {PARITY_LIMIT:g}); "
            "nothing was written. Try another onnxruntime or torch version."
        )
