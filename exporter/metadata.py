"""The model contract's metadata_props: what the engine reads to know what a model file is, and the
fingerprint a memory bank records so it is never scored with another model."""

import hashlib
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from patchcore.errors import ModelError

FINGERPRINT_FIELDS = (
    "backbone",
    "weights_sha256",
    "input_size",
    "grid",
    "dim",
    "exporter_version",
    "quantization",
)


def fingerprint(metadata: dict[str, str]) -> str:
    """sha256 hex of "backbone|weights_sha256|input_size|grid|dim|exporter_version|quantization"."""
    return hashlib.sha256("|".join(metadata[field] for field in FINGERPRINT_FIELDS).encode()).hexdigest()


def model_metadata(
    backbone: str,
    weights_source: str,
    weights_sha256: str,
    size: int,
    grid: int,
    dim: int,
    quantization: str,
    parity_max_abs: float,
    graph_version: str,
    fine_grid: int = 0,
    fine_dim: int = 0,
) -> dict[str, str]:
    """All metadata_props of one model file (grid is square: grid x grid patches). graph_version: the
    backbone's graph version (exporter.backbones.BackboneSpec), kept as "exporter_version". fine_grid,
    fine_dim: the "fine_features" output's cells per side and dimensions (0: the graph has none); they are
    not in the fingerprint, which the graph version already is."""
    metadata = {
        "backbone": backbone,
        "weights_source": weights_source,
        "weights_sha256": weights_sha256,
        "input_size": str(size),
        "grid": f"{grid}x{grid}",
        "dim": str(dim),
        "exporter_version": graph_version,
        "quantization": quantization,
        "parity_max_abs": f"{parity_max_abs:.3g}",
    }
    if fine_dim:
        metadata |= {"fine_grid": f"{fine_grid}x{fine_grid}", "fine_dim": str(fine_dim)}
    return {**metadata, "fingerprint": fingerprint(metadata)}


def attach_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    """Replaces model's metadata_props with `metadata`."""
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, metadata)


def read_metadata(path: Path) -> dict[str, str]:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (OSError, DecodeError) as error:
        raise ModelError(f"Cannot read model file {path}: {error}") from error
    return {prop.key: prop.value for prop in model.metadata_props}
