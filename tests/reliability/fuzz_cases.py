"""Hypothesis strategies for malformed requests to every call, each paired with the status codes it may get.

A case's expected codes follow the order in which the server checks a request (product id, product, heatmap
format, image), so most cases expect exactly one code. UNKNOWN and INTERNAL are never expected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import grpc
import numpy as np
from hypothesis import strategies as st
from patchcore_edge.v1 import inspection_pb2 as pb

FUZZ_PRODUCT = "fuzzed"
PIXEL_CAP = 1_000_000
MIN_SIDE = 32  # the smallest image side a product without a region of interest takes (README)
MAX_MESSAGE_BYTES = 1 << 20
_PRODUCT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_CHANNELS = {pb.PIXEL_FORMAT_GRAY8: 1, pb.PIXEL_FORMAT_RGB8: 3, pb.PIXEL_FORMAT_BGR8: 3}

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
TOO_LARGE = grpc.StatusCode.RESOURCE_EXHAUSTED
SPECIFIC = frozenset({OK, INVALID, NOT_FOUND, TOO_LARGE, grpc.StatusCode.FAILED_PRECONDITION})
OPTION_NAMES = frozenset({"threshold", "top_k", "min_region_area"})


@dataclass(frozen=True)
class Case:
    """One call: `request` is a message, or raw bytes sent as the request body. `frames` for InspectStream."""

    method: str
    request: object
    expected: frozenset
    frames: tuple[tuple[pb.InspectRequest, frozenset], ...] = ()

    @property
    def malformed(self) -> bool:
        """Refused whatever the server's state: unparsable bytes, or a message that can only fail."""
        return isinstance(self.request, bytes) or OK not in self.expected


def _sample_images() -> list[bytes]:
    """A small real image in each accepted format: the seeds that mutations start from."""
    rgb = np.random.default_rng(0).integers(0, 256, (MIN_SIDE, MIN_SIDE, 3), dtype=np.uint8)
    return [cv2.imencode(suffix, rgb)[1].tobytes() for suffix in (".png", ".jpg", ".bmp", ".tiff")]


SAMPLES = _sample_images()

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
valid_ids = st.from_regex(_PRODUCT_ID, fullmatch=True)
tricky_ids = st.sampled_from(
    ["", "..", "../fuzzed", "/etc/passwd", "Fuzzed", "fuzzed/", "a" * 65, "fuzzed\n"]
)
any_ids = st.one_of(valid_ids, text, tricky_ids)
floats32 = st.floats(width=32) | st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0])


def lookup_codes(product_id: str) -> frozenset:
    """What looking a product up answers: INVALID for a bad id, NOT_FOUND for any product but ours."""
    if not _PRODUCT_ID.fullmatch(product_id):
        return frozenset({INVALID})
    return frozenset({OK}) if product_id == FUZZ_PRODUCT else frozenset({NOT_FOUND})


@st.composite
def raw_images(draw) -> tuple[pb.Image, frozenset]:
    size = st.integers(0, 300) | st.integers(0, 2**32 - 1)
    width, height = draw(size), draw(size)
    pixel_format = draw(st.integers(0, 3) | st.integers(4, 2**31 - 1))
    channels = _CHANNELS.get(pixel_format)
    exact = channels is not None and 0 < width * height * channels <= 30_000 and draw(st.booleans())
    pixels = bytes(width * height * channels) if exact else draw(st.binary(max_size=300))
    image = pb.Image(raw=pb.RawImage(width=width, height=height, format=pixel_format, pixels=pixels))
    if channels is None or width == 0 or height == 0:
        return image, frozenset({INVALID})
    if width * height > PIXEL_CAP:
        return image, frozenset({TOO_LARGE})
    usable = len(pixels) == width * height * channels and min(width, height) >= MIN_SIDE
    return image, frozenset({OK if usable else INVALID})


def png_declaring(width: int, height: int) -> bytes:
    """A PNG signature and IHDR declaring width x height, and nothing else."""
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + len(header).to_bytes(4, "big") + b"IHDR" + header + bytes(4)


@st.composite
def declaring_pngs(draw) -> tuple[pb.Image, frozenset]:
    width, height = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))
    code = TOO_LARGE if width * height > PIXEL_CAP else INVALID  # INVALID: empty, or no pixels follow
    return pb.Image(encoded=png_declaring(width, height)), frozenset({code})


@st.composite
def mutated_images(draw) -> tuple[pb.Image, frozenset]:
    """A real image with bytes flipped, cut off or inserted: it may still decode, or declare another size."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        if not data:
            return pb.Image(encoded=b""), frozenset({INVALID})
    return pb.Image(encoded=bytes(data)), frozenset({OK, INVALID, TOO_LARGE})


junk_images = st.one_of(
    st.binary(max_size=300).map(lambda data: (pb.Image(encoded=data), frozenset({INVALID, TOO_LARGE}))),
    st.just((pb.Image(), frozenset({INVALID}))),
)
images = st.one_of(raw_images(), declaring_pngs(), mutated_images(), junk_images)


@st.composite
def inspect_requests(draw) -> tuple[pb.InspectRequest, frozenset]:
    product_id = draw(st.just(FUZZ_PRODUCT) | any_ids)
    image, image_codes = draw(images)
    heatmap = draw(st.integers(0, 2) | st.integers(-(2**31), 2**31 - 1))
    request = pb.InspectRequest(
        product_id=product_id, frame_id=draw(st.integers(0, 2**64 - 1)), image=image, heatmap=heatmap
    )
    expected = lookup_codes(product_id)
    if expected == {OK}:
        expected = image_codes if heatmap in pb.HeatmapFormat.values() else frozenset({INVALID})
    return request, expected


def teach_options_valid(options: pb.TeachOptions) -> bool:
    """Zero means "server default"; anything else must be in range."""
    ratio, scale = options.coreset_ratio, options.threshold_scale
    ratio_ok = ratio == 0 or 0 < ratio <= 1
    scale_ok = scale == 0 or (math.isfinite(scale) and scale > 0)
    return ratio_ok and scale_ok


@st.composite
def teach_cases(draw) -> Case:
    product_id = draw(any_ids)
    drawn = draw(st.lists(images, max_size=4))
    options = pb.TeachOptions(
        coreset_ratio=draw(floats32), threshold_scale=draw(floats32), top_k=draw(st.integers(0, 2**32 - 1))
    )
    request = pb.TeachRequest(product_id=product_id, images=[image for image, _ in drawn], options=options)
    image_codes = [codes for _, codes in drawn]
    surely_bad = (
        len(drawn) < 2
        or not teach_options_valid(options)
        or not _PRODUCT_ID.fullmatch(product_id)
        or any(OK not in codes for codes in image_codes)
    )
    if surely_bad:
        return Case("Teach", request, frozenset({INVALID, TOO_LARGE}))
    codes = frozenset({OK}).union(*image_codes)
    if options.threshold_scale > 1:  # scale x the highest held-out score may be above 2: refused
        codes |= {INVALID}
    return Case("Teach", request, codes)


@st.composite
def update_cases(draw) -> Case:
    product_id = draw(st.just(FUZZ_PRODUCT) | any_ids)
    fields = draw(st.lists(st.sampled_from(sorted(OPTION_NAMES)) | text, max_size=3))
    options = pb.ProductOptions(
        threshold=draw(floats32),
        top_k=draw(st.integers(0, 2**32 - 1)),
        min_region_area=draw(st.integers(0, 2**32 - 1)),
    )
    request = pb.UpdateProductRequest(product_id=product_id, options=options, update_fields=fields)
    expected = lookup_codes(product_id)
    if expected == {OK}:
        # No update_fields: the options set to a non-zero value are the ones changed.
        named = set(fields) or {name for name in OPTION_NAMES if getattr(options, name)}
        valid = (
            bool(named)
            and named <= OPTION_NAMES
            and ("threshold" not in named or 0 <= options.threshold <= 2)
            and ("top_k" not in named or options.top_k >= 1)
        )
        expected = frozenset({OK if valid else INVALID})
    return Case("UpdateProduct", request, expected)


@st.composite
def add_images_cases(draw) -> Case:
    """AddImages that can only fail: one that succeeded would grow FUZZ_PRODUCT's teach set case after case,
    so a request naming it ends with an image that cannot be decoded."""
    product_id = draw(st.just(FUZZ_PRODUCT) | any_ids)
    drawn = draw(st.lists(images, max_size=3))
    expected = lookup_codes(product_id)
    if expected == {OK}:
        drawn.append(draw(junk_images))
        expected = frozenset().union(*(codes for _, codes in drawn)) - {OK}
    request = pb.AddImagesRequest(product_id=product_id, images=[image for image, _ in drawn])
    return Case("AddImages", request, expected)


def _product_case(method: str, message: type) -> st.SearchStrategy[Case]:
    return any_ids.map(
        lambda product_id: Case(method, message(product_id=product_id), lookup_codes(product_id))
    )


def _delete_case(product_id: str) -> Case:
    return Case("DeleteProduct", pb.DeleteProductRequest(product_id=product_id), lookup_codes(product_id))


def _unparsable_body(method: str) -> st.SearchStrategy[Case]:
    """Random bytes as the request body: parsed as unknown fields (then any answer) or refused as INVALID."""
    return st.binary(max_size=200).map(lambda body: Case(method, body, SPECIFIC))


inspect_cases = inspect_requests().map(lambda pair: Case("Inspect", pair[0], pair[1]))
stream_cases = st.lists(inspect_requests(), min_size=1, max_size=6).map(
    lambda frames: Case("InspectStream", None, SPECIFIC, frames=tuple(frames))
)
oversized = st.sampled_from(["Inspect", "Teach", "GetServerInfo"]).map(
    lambda method: Case(method, b"\x0a" + bytes(MAX_MESSAGE_BYTES + 16), frozenset({TOO_LARGE}))
)
# Deletes never name FUZZ_PRODUCT, so it stays for the Inspect, Update and GetProduct cases.
cases = st.one_of(
    inspect_cases,
    stream_cases,
    teach_cases(),
    add_images_cases(),
    update_cases(),
    _product_case("GetProduct", pb.GetProductRequest),
    any_ids.filter(lambda product_id: product_id != FUZZ_PRODUCT).map(_delete_case),
    st.sampled_from(
        ["ListProducts", "GetServerInfo", "GetProduct", "DeleteProduct", "Inspect", "AddImages"]
    ).flatmap(_unparsable_body),
    oversized,
)
