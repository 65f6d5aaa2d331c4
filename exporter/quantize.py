"""int8 dynamic quantisation of an exported fp32 model, checked against the fp32 graph.

Quantised features cannot meet the fp32 parity limit, so the check is looser and angular: every patch
embedding must keep a cosine similarity of at least INT8_MIN_COSINE with its fp32 counterpart. The max abs
difference is still measured and stored in parity_max_abs."""

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from exporter.files import write_atomically
from exporter.metadata import attach_metadata, fingerprint, read_metadata
from exporter.onnx_export import PARITY_BATCHES, random_images, session_for
from patchcore.errors import ModelError

QUANTIZATIONS = ("int8",)
INT8_MIN_COSINE = 0.98


def _compare(fp32: onnx.ModelProto, int8: onnx.ModelProto, size: int) -> tuple[float, float]:
    """(max abs difference, min per-patch cosine similarity) of int8 vs fp32 features on random images."""
    reference, candidate = session_for(fp32), session_for(int8)
    max_abs, min_cosine = 0.0, 1.0
    for seed, batch in enumerate(PARITY_BATCHES):
        images = random_images(batch, size, seed)
        (expected,) = reference.run(["features"], {"images": images})
        (found,) = candidate.run(["features"], {"images": images})
        max_abs = max(max_abs, float(np.abs(found - expected).max()))
        min_cosine = min(min_cosine, float((found * expected).sum(axis=-1).min()))
    return max_abs, min_cosine


def quantize_int8(fp32_path: Path, target: Path) -> None:
    """Writes the int8 version of fp32_path to target (atomically), with quantization=int8 metadata."""
    metadata = read_metadata(fp32_path)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        scratch_model = Path(scratch) / "int8.onnx"
        quantize_dynamic(fp32_path, scratch_model, weight_type=QuantType.QInt8)
        int8 = onnx.load(str(scratch_model))
    max_abs, min_cosine = _compare(onnx.load(str(fp32_path)), int8, int(metadata["input_size"]))
    if min_cosine < INT8_MIN_COSINE:
        raise ModelError(
            f"int8 quantisation of {fp32_path.name} changes features too much (cosine similarity down to "
            f"{min_cosine:.3f}, limit {INT8_MIN_COSINE}); nothing was written. Use the fp32 model."
        )
    int8_metadata = {**metadata, "quantization": "int8", "parity_max_abs": f"{max_abs:.3g}"}
    int8_metadata["fingerprint"] = fingerprint(int8_metadata)
    attach_metadata(int8, int8_metadata)
    write_atomically(int8.SerializeToString(), target)
