"""`patchcore-client teach` and `add-images`: send good images, report the product they made and the
images unlike the others."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore_client.cli_image_files import IMAGE_SUFFIXES, image_files
from patchcore_client.client import InspectionClient

TEACH_IMAGE = "teach image"  # how the server's errors name a Teach call's images, counted from 1
ADDED_IMAGE = "added image"  # and an AddImages call's


def teach(client: InspectionClient, args: argparse.Namespace) -> int:
    files = image_files([args.folder])
    if not files:
        print(f"error: no image files ({', '.join(IMAGE_SUFFIXES)}) in {args.folder}", file=sys.stderr)
        return 1
    print(f"teaching {args.product} from {_images(len(files))} ...", file=sys.stderr)
    with _naming_files(TEACH_IMAGE, files):
        product = client.teach(
            args.product,
            files,
            coreset_ratio=args.coreset_ratio,
            augment_rotations=args.augment_rotations,
            contrast_stretch=args.contrast_stretch,
            threshold_scale=args.threshold_scale,
            top_k=args.top_k,
            roi=args.roi,
            tile_size=args.tile_size,
            line_views=args.line_views,
            align=args.align,
        )
    stats = product.teach_stats
    print(
        f"{product.product_id} version {product.version}: threshold {product.threshold:.4f}, "
        f"bank {stats.bank_size} patches from {stats.image_count} images in {stats.teach_seconds:.1f} s"
        + (f", fine bank {stats.fine_bank_size} cells" if stats.fine_bank_size else "")
    )
    _print_taught_with(product)
    warn_of_outliers(product, files)
    return 0


class RefusedImage(Exception):
    """The server refused an image this command sent; the message names its file."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code


@contextmanager
def _naming_files(noun: str, files: Sequence[Path]) -> Iterator[None]:
    """Turns an error the server gives as "<noun> <n>: ..." (the call's images counted from 1) into one that
    also names the file: "<noun> <n> (<file>): ..."."""
    try:
        yield
    except grpc.RpcError as error:
        details = error.details() or ""
        match = re.match(rf"{noun} (\d+): ", details)
        if match is None or not 1 <= int(match[1]) <= len(files):
            raise
        named = f"{noun} {match[1]} ({files[int(match[1]) - 1]}): {details[match.end() :]}"
        raise RefusedImage(error.code(), named) from error


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _switched_on(options: pb.TeachOptions) -> list[str]:
    """The `teach` flags of the options that are on: ROI, tiles, alignment, augmentation."""
    flags = []
    if options.HasField("roi"):
        roi = options.roi
        flags.append(f"--roi {roi.x},{roi.y},{roi.width},{roi.height}")
    if options.tile_size:
        flags.append(f"--tile-size {options.tile_size}")
    switches = {
        "--align": options.align,
        "--augment-rotations": options.augment_rotations,
        "--contrast-stretch": options.contrast_stretch,
    }
    flags.extend(flag for flag, on in switches.items() if on)
    return flags


def _print_taught_with(product: pb.Product) -> None:
    if flags := _switched_on(product.teach_options):
        print(f"taught with {' '.join(flags)}")


def teach_flags(options: pb.TeachOptions) -> str:
    """All the `teach` flags of the options, the server's defaults filled in (as Product.teach_options
    comes)."""
    return " ".join(
        (
            f"--coreset-ratio {options.coreset_ratio:g}",
            f"--threshold-scale {options.threshold_scale:g}",
            f"--line-views {options.line_views}",
            *_switched_on(options),
        )
    )


def warn_of_outliers(product: pb.Product, sent: list[Path]) -> None:
    """Names on stderr the images the server found unlike the others (TeachStats.outlier_images). sent: the
    files of this call, which are the product's last images."""
    stats = product.teach_stats
    first_sent = stats.image_count - len(sent)
    for index in stats.outlier_images:
        name = sent[index - first_sent].name if index >= first_sent else f"image {index} (taught before)"
        print(
            f"warning: {name} looks unlike the other good images (held-out score "
            f"{stats.leave_one_out_scores[index]:.4f}, more than twice the others' median); if it is not a "
            "good part, teach again without it: it raised the threshold and taught its defect as normal",
            file=sys.stderr,
        )


def add_images(client: InspectionClient, args: argparse.Namespace) -> int:
    files = image_files(args.files)
    if not files:
        print(f"error: no image files ({', '.join(IMAGE_SUFFIXES)}) given", file=sys.stderr)
        return 1
    print(f"adding {_images(len(files))} to {args.product} ...", file=sys.stderr)
    with _naming_files(ADDED_IMAGE, files):
        product = client.add_images(args.product, files, expected_version=args.expected_version)
    print(
        f"{product.product_id} version {product.version}: threshold {product.threshold:.4f}, "
        f"{product.teach_stats.image_count} images in all"
    )
    _print_taught_with(product)
    warn_of_outliers(product, files)
    return 0
