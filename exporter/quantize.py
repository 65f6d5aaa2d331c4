"""int8 dynamic quantisation of an exported fp32 model, checked against the fp32 graph.

Only MatMul/Gemm weights are quantised (MatMulInteger): that is where a transformer like DINOv2 spends its
time. Convolutions stay fp32 because ONNX Runtime's dynamic ConvInteger was both slower and less accurate
than fp32 (README "Preparing a model"); so a backbone without MatMuls (EfficientNet-Lite) is refused rather
than copied.

Quantised features cannot meet the fp32 parity limit, so the check is angular: the mean cosine similarity
of int8 and fp32 patch embeddings on random images must be at least INT8_MIN_MEAN_COSINE. The max abs
difference is still measured and stored in parity_max_abs."""

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from exporter.metadata import attach_metadata, fingerprint, read_metadata
from exporter.onnx_export import PARITY_BATCHES, random_images, session_for
from patchcore.durable import TEMP_SUFFIX, temp_prefix, write_atomically
from patchcore.errors import InvalidInput, ModelError

QUANTIZATIONS = ("int8",)
INT8_MIN_MEAN_COSINE = 0.98
QUANTIZED_OPS = ["MatMul", "Gemm"]


def _compare(fp32: onnx.ModelProto, int8: onnx.ModelProto, size: int) -> tuple[float, float]:
    """(max abs difference, mean per-patch cosine similarity) of int8 vs fp32 features on random images."""
    reference, candidate = session_for(fp32), session_for(int8)
    max_abs, cosines = 0.0, []
    for seed, batch in enumerate(PARITY_BATCHES):
        images = random_images(batch, size, seed)
        (expected,) = reference.run(["features"], {"images": images})
        (found,) = candidate.run(["features"], {"images": images})
        max_abs = max(max_abs, float(np.abs(found - expected).max()))
        cosines.append((found * expected).sum(axis=-1).ravel())
    return max_abs, float(np.concatenate(cosines).mean())


def _quantize_matmuls(fp32_path: Path, scratch: Path) -> onnx.ModelProto:
    scratch_model = scratch / "int8.onnx"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs a pre-processing hint that does not apply here
    try:
        quantize_dynamic(
            fp32_path, scratch_model, weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS
        )
    finally:
        root.setLevel(level)
    return onnx.load(str(scratch_model))


def quantize_int8(fp32_path: Path, target: Path) -> None:
    """Writes the int8 version of fp32_path to target (atomically), with quantization=int8 metadata."""
    metadata = read_metadata(fp32_path)
    with tempfile.TemporaryDirectory(
        dir=target.parent, prefix=temp_prefix(target), suffix=TEMP_SUFFIX
    ) as scratch:
        int8 = _quantize_matmuls(fp32_path, Path(scratch))
    if not any(node.op_type == "MatMulInteger" for node in int8.graph.node):
        raise InvalidInput(
            f"{metadata['backbone']} has no matrix multiplications for int8 to speed up, and dynamic int8 "
            "convolutions are slower and less accurate than fp32 on CPU; use the fp32 model"
        )
    max_abs, mean_cosine = _compare(onnx.load(str(fp32_path)), int8, int(metadata["input_size"]))
    if mean_cosine < INT8_MIN_MEAN_COSINE:
        raise ModelError(
            f"int8 quantisation of {fp32_path.name} changes features too much (mean cosine similarity "
            f"{mean_cosine:.3f}, limit {INT8_MIN_MEAN_COSINE}); nothing was written. Use the fp32 model."
        )
    int8_metadata = {**metadata, "quantization": "int8", "parity_max_abs": f"{max_abs:.3g}"}
    int8_metadata["fingerprint"] = fingerprint(int8_metadata)
    attach_metadata(int8, int8_metadata)
    write_atomically(target, int8.SerializeToString(), "model file")
