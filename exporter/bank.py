"""`python -m exporter.bank` / `make bank`: teach a product offline from a folder of good images.

Runs the same teach() and ProductStore.save() as the server's Teach call, so the product it writes is the one
the server would have built, its image files stored with it. Uses only the engine (no torch). Holds the
store's lock while it builds (patchcore/store_lock.py): a store a server runs on is taught over gRPC.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from patchcore.bank import DEFAULT_THRESHOLD_SCALE, MemoryBank, TeachOptions
from patchcore.errors import InspectionError, InvalidInput
from patchcore.geometry import Rect
from patchcore.images import DEFAULT_MAX_PIXELS, decode_scaled, list_image_files, read_image_bytes
from patchcore.model import FeatureExtractor
from patchcore.prepare import prepare_teach_set
from patchcore.product_version import ProductVersion
from patchcore.store import ProductStore
from patchcore.store_lock import StoreLock
from patchcore.teach import stage_progress, teach
from patchcore.teach_images import TeachImages

REPORTED_SCORES = 16  # more held-out scores than this are summarised in the report
STAGE_BARS = {  # teach stage -> (bar label, unit)
    "prepare": ("reading", "image"),
    "extract": ("extracting features", "input"),
    "coreset": ("choosing the memory bank", "pick"),
    "threshold": ("scoring for the threshold", "patch"),
    "fine": ("choosing the fine bank", "pick"),
}

DESCRIPTION = """\
Teach a product from a folder of good images (8 is the reference case; no defect images) and store it
as a new version in a product store the server reads. Images are JPEG/PNG/BMP/TIFF files directly in the
folder; the threshold is set from held-out scores of these images (each scored against the memory bank
without the vectors it contributed)."""
EPILOG = """\
example:
  python -m exporter.bank --model models/efficientnet_lite0_224.onnx --images good/widget \\
      --product widget --store store"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.bank",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, required=True, help="the ONNX model file the server runs")
    parser.add_argument("--images", type=Path, required=True, help="folder of good images of the product")
    parser.add_argument("--product", required=True, help="product id: a-z 0-9 . _ - (up to 64)")
    parser.add_argument("--store", type=Path, required=True, help="product store directory of the server")
    defaults = TeachOptions()
    parser.add_argument(
        "--coreset-ratio",
        type=float,
        default=defaults.coreset_ratio,
        help="share of training patches kept in the memory bank (default %(default)s; 0 = the default)",
    )
    parser.add_argument(
        "--augment-rotations",
        action="store_true",
        help="also teach the 90/180/270 degree rotations and mirror images (parts that appear rotated)",
    )
    parser.add_argument(
        "--contrast-stretch",
        action="store_true",
        help="stretch each frame's contrast before the model (lines whose exposure drifts between frames)",
    )
    parser.add_argument(
        "--threshold-scale",
        type=float,
        default=DEFAULT_THRESHOLD_SCALE,
        help="threshold = scale x highest held-out score (default %(default)s; 0 = the default)",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=defaults.top_k,
        help="image score = mean of the top-k patch scores (default %(default)s = max; 0 = the default)",
    )
    parser.add_argument(
        "--roi",
        type=parse_roi,
        help="region of interest X,Y,W,H in frame pixels; every frame is cropped to it (default: all of it)",
    )
    parser.add_argument(
        "--tile-size",
        type=int,
        default=defaults.tile_size,
        help="cover the frame (or ROI) with tiles of this many pixels, each one model input, for "
        "high-resolution frames with small defects (default 0 = the whole frame as one input)",
    )
    parser.add_argument(
        "--align",
        action="store_true",
        help="turn and shift every frame onto the first image first (parts that move in their fixture; all "
        "images must have the first one's size)",
    )
    parser.add_argument(
        "--line-views",
        type=int,
        default=defaults.line_views,
        help="also learn this many views of each image shifted, turned, lit and JPEG-compressed as a line "
        "varies them (default %(default)s; 0 = off, for parts always aligned and evenly lit)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="coreset seed (default %(default)s)")
    parser.add_argument(
        "--threads", type=int, default=0, help="ONNX Runtime intra-op threads (default 0 = one per core)"
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse images of more pixels, as the server's flag of that name (default %(default)s)",
    )
    return parser.parse_args(argv)


def parse_roi(text: str) -> Rect:
    """ "X,Y,W,H" -> Rect (argparse type)."""
    try:
        x, y, width, height = (int(part) for part in text.split(","))
        return Rect(x, y, width, height)
    except (ValueError, InvalidInput) as error:
        raise argparse.ArgumentTypeError(f"expected X,Y,W,H in frame pixels, got {text!r}") from error


def build_product(args: argparse.Namespace) -> tuple[MemoryBank, Path, list[Path]]:
    """Teach the product described by args and save it with its image files; returns the bank, its file and
    the image files in the order taught. Each file is read once: what is stored is what was taught."""
    ProductStore.validate_product_id(args.product)
    defaults = TeachOptions()
    options = TeachOptions(
        coreset_ratio=args.coreset_ratio or defaults.coreset_ratio,
        augment_rotations=args.augment_rotations,
        contrast_stretch=args.contrast_stretch,
        threshold_scale=args.threshold_scale or defaults.threshold_scale,
        top_k=args.top_k or defaults.top_k,
        seed=args.seed,
        roi=args.roi,
        tile_size=args.tile_size,
        line_views=args.line_views,
        align=args.align,
    )
    store = ProductStore(args.store)
    lock = StoreLock(args.store, "the offline bank builder")
    try:
        if store.is_fleet_copy(args.product):
            raise InvalidInput(
                f"product {args.product!r} in {args.store} is a fleet's copy: a version built here would be "
                "replaced by the fleet's when its server starts. Teach it over gRPC on a server of the fleet"
            )
        store.check_writable(args.product)
        files = list_image_files(args.images)
        if not files:
            raise InvalidInput(f"no JPEG, PNG, BMP or TIFF files in {args.images} (subfolders are not read)")
        contents = [read_image_bytes(path) for path in files]
        extractor = FeatureExtractor(args.model, intra_op_threads=args.threads)
        if warning := extractor.info.random_weights_warning():
            print(f"warning: {warning}", file=sys.stderr)
        with StageBars() as bars:
            frames = prepare_teach_set(
                contents,
                lambda data, shrink_for: decode_scaled(data, shrink_for, args.max_image_pixels),
                options.view(extractor.info.input_size),
                names=[path.name for path in files],
                progress=stage_progress(bars.advance, "prepare"),
            )
            bank = teach(
                extractor, frames, args.product, options, store.next_version(args.product), bars.advance
            )
        version = ProductVersion.taught(bank, TeachImages(tuple(contents)))
        store.save(version)
    finally:
        lock.release()
    return version.bank, store.version_path(bank.product_id, bank.version), files


class StageBars:
    """One progress bar per teach stage, opened when the stage first reports and closed when the next
    one starts (or the with-block ends)."""

    def __init__(self) -> None:
        self._stage: str | None = None
        self._bar: tqdm | None = None

    def advance(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self.close()
            label, unit = STAGE_BARS[stage]
            self._stage, self._bar = stage, tqdm(desc=label, total=total, unit=unit)
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "StageBars":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def report(bank: MemoryBank, path: Path, files: list[Path]) -> str:
    stats = bank.stats
    timings = ", ".join(
        f"{name.removesuffix('_seconds')} {seconds:.2f} s" for name, seconds in stats.timings.items()
    )
    scores = stats.leave_one_out_scores
    held_out = ", ".join(f"{score:.4f}" for score in scores)
    if len(scores) > REPORTED_SCORES:
        held_out = f"highest {max(scores):.4f}, median {float(np.median(scores)):.4f} of {len(scores)}"
    fine = (
        ""
        if bank.fine is None
        else f"fine bank {len(bank.fine.vectors)} cells, scale {bank.fine.scale:.3f}\n"
    )
    return (
        f"product {bank.product_id} version {bank.version} -> {path}\n"
        f"images {stats.image_count}, patches {stats.patch_count}, bank size {stats.bank_size}\n"
        + fine
        + f"threshold {bank.options.threshold:.4f} (held-out scores: {held_out})\n"
        f"teach {stats.teach_seconds:.2f} s ({timings})"
        + "".join(
            f"\nwarning: {files[index].name} looks unlike the other good images (held-out score "
            f"{scores[index]:.4f}); if it is not a good part, build again without it"
            for index in stats.outlier_images
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        bank, path, files = build_product(args)
    except (InspectionError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing was stored", file=sys.stderr)
        return 130
    print(report(bank, path, files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
