"""Translation between protobuf messages and engine types. Validation of message fields lives here too."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.bank import ProductOptions, TeachOptions
from patchcore.errors import InspectionError, InvalidInput
from patchcore.geometry import Rect
from patchcore.images import PixelFormat, ScaledImage, ShrinkRule, decode_raw, decode_scaled
from patchcore.model import ModelInfo
from patchcore.prepare import TEACH_IMAGE
from patchcore.regions import Region
from patchcore.teach_images import TeachImages, png_file
from patchcore.threshold import MAX_THRESHOLD
from server.products import ProductEntry

_PIXEL_FORMATS = {
    pb.PIXEL_FORMAT_GRAY8: PixelFormat.GRAY8,
    pb.PIXEL_FORMAT_RGB8: PixelFormat.RGB8,
    pb.PIXEL_FORMAT_BGR8: PixelFormat.BGR8,
}

PRODUCT_OPTION_FIELDS = ("threshold", "top_k", "min_region_area")
_HEATMAP_FORMATS = frozenset(pb.HeatmapFormat.values())


def check_heatmap_format(value: int) -> None:
    """InvalidInput unless `value` is a HeatmapFormat (proto3 lets unknown enum numbers through)."""
    if value not in _HEATMAP_FORMATS:
        names = ", ".join(pb.HeatmapFormat.keys())
        raise InvalidInput(f"unknown heatmap format {value}; use one of {names}")


def decode_image(image: pb.Image, max_pixels: int, shrink_for: ShrinkRule | None = None) -> ScaledImage:
    """The image as RGB (a JPEG possibly shrunk while decoding, see decode_scaled); InvalidInput when unset
    or undecodable, TooLarge over max_pixels."""
    source = image.WhichOneof("source")
    if source == "encoded":
        return decode_scaled(image.encoded, shrink_for, max_pixels=max_pixels)
    if source == "raw":
        raw = image.raw
        if raw.format not in _PIXEL_FORMATS:
            problem = "without a pixel format" if raw.format == 0 else f"of unknown pixel format {raw.format}"
            raise InvalidInput(f"raw image {problem}: set format to GRAY8, RGB8 or BGR8")
        rgb = decode_raw(raw.pixels, raw.width, raw.height, _PIXEL_FORMATS[raw.format], max_pixels=max_pixels)
        return ScaledImage.full(rgb)
    raise InvalidInput("the request carries no image: set image.encoded or image.raw")


def kept_images(
    images: Sequence[pb.Image],
    max_pixels: int,
    noun: str = TEACH_IMAGE,
    progress: Callable[[int, int], None] | None = None,
) -> TeachImages:
    """Teach images as they are stored with the product version: encoded files as received, raw buffers as
    PNG files (lossless; grey stays grey). A raw buffer that does not decode is an error naming the image
    (noun and its 1-based number); encoded files are checked when they are prepared. progress(done, total)
    is called after each raw buffer is encoded; an exception it raises stops the encoding."""
    files = []
    for index, image in enumerate(images):
        if image.WhichOneof("source") != "raw":
            files.append(image.encoded)
            continue
        try:
            rgb = decode_image(image, max_pixels).rgb
        except InspectionError as error:
            raise type(error)(f"{noun} {index + 1}: {error}") from error
        files.append(png_file(rgb[:, :, 0] if image.raw.format == pb.PIXEL_FORMAT_GRAY8 else rgb))
        if progress is not None:
            progress(index + 1, len(images))
    return TeachImages(tuple(files))


def teach_options(message: pb.TeachOptions) -> TeachOptions:
    """The engine's TeachOptions: the engine defaults, overridden by every field set (non-zero) in `message`
    and by line_views when present (0 turns the line views off).

    The engine validates the values (InvalidInput).
    """
    given = {
        "coreset_ratio": message.coreset_ratio,
        "augment_rotations": message.augment_rotations,
        "contrast_stretch": message.contrast_stretch,
        "threshold_scale": message.threshold_scale,
        "top_k": message.top_k,
        "tile_size": message.tile_size,
        "align": message.align,
    }
    options = dataclasses.replace(TeachOptions(), **{name: value for name, value in given.items() if value})
    if message.HasField("line_views"):
        options = dataclasses.replace(options, line_views=message.line_views)
    if message.HasField("roi"):
        roi = message.roi
        options = dataclasses.replace(options, roi=Rect(roi.x, roi.y, roi.width, roi.height))
    return options


def teach_options_message(options: TeachOptions) -> pb.TeachOptions:
    message = pb.TeachOptions(
        coreset_ratio=options.coreset_ratio,
        augment_rotations=options.augment_rotations,
        threshold_scale=options.threshold_scale,
        top_k=options.top_k,
        contrast_stretch=options.contrast_stretch,
        tile_size=options.tile_size,
        line_views=options.line_views,
        align=options.align,
    )
    if options.roi is not None:
        message.roi.CopyFrom(pb.Rect(**dataclasses.asdict(options.roi)))
    return message


def updated_options(current: ProductOptions, request: pb.UpdateProductRequest) -> ProductOptions:
    """`current` with the fields to change taken from request.options: the fields named in
    request.update_fields, or, when it is empty, every field of request.options that is not zero.

    InvalidInput for an unknown field name, a request that changes nothing, and a threshold outside 0..2;
    the engine validates the rest.
    """
    options = request.options
    fields = list(request.update_fields) or [name for name in PRODUCT_OPTION_FIELDS if getattr(options, name)]
    unknown = sorted(set(fields) - set(PRODUCT_OPTION_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown update_fields {unknown}; valid: {', '.join(PRODUCT_OPTION_FIELDS)}")
    if not fields:
        raise InvalidInput(
            "the update changes nothing: set an option to a non-zero value, or name the options to set "
            "(also to 0) in update_fields"
        )
    changes = {name: getattr(options, name) for name in fields}
    threshold = changes.get("threshold", 0.0)
    if not 0 <= threshold <= MAX_THRESHOLD:
        raise InvalidInput(
            f"the threshold must be a cosine distance from 0 to {MAX_THRESHOLD:g}, got {threshold:g}"
        )
    return dataclasses.replace(current, **changes)


def product_message(entry: ProductEntry) -> pb.Product:
    """A product as the API describes it; an unreadable one carries only its id and why it is unusable."""
    product = pb.Product(product_id=entry.product_id, usable=entry.usable, status_message=entry.problem)
    bank = entry.bank
    if bank is None:
        return product
    stats = bank.stats
    product.version = bank.version
    product.threshold = bank.options.threshold
    product.options.CopyFrom(
        pb.ProductOptions(
            threshold=bank.options.threshold,
            top_k=bank.options.top_k,
            min_region_area=bank.options.min_region_area,
        )
    )
    product.teach_stats.CopyFrom(
        pb.TeachStats(
            image_count=stats.image_count,
            patch_count=stats.patch_count,
            bank_size=stats.bank_size,
            teach_seconds=stats.teach_seconds,
            leave_one_out_scores=stats.leave_one_out_scores,
            outlier_images=stats.outlier_images,
            fine_bank_size=0 if bank.fine is None else len(bank.fine.vectors),
        )
    )
    product.teach_options.CopyFrom(teach_options_message(bank.teach_options))
    product.model_fingerprint = bank.model_fingerprint
    product.created_unix = bank.created_unix
    return product


def region_message(region: Region) -> pb.Region:
    return pb.Region(
        x=region.x,
        y=region.y,
        width=region.width,
        height=region.height,
        area=region.area,
        peak_score=region.peak_score,
    )


def model_message(info: ModelInfo) -> pb.ModelInfo:
    return pb.ModelInfo(
        backbone=info.backbone,
        input_size=info.input_size,
        grid_height=info.grid[0],
        grid_width=info.grid[1],
        feature_dim=info.dim,
        fingerprint=info.fingerprint,
        weights_sha256=info.weights_sha256,
        metadata=info.metadata,
    )
