"""Every status code of the API, as a caller sees it through the generated stubs."""

import struct
import zlib

import grpc
import numpy as np
import pytest
from patchcore_client.synthetic import good_part
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import BROKEN_PRODUCT, FOREIGN_PRODUCT, MAX_MESSAGE_BYTES, PRODUCT, encoded, teach_request


def png_declaring(width: int, height: int) -> bytes:
    """A PNG signature and header declaring width x height, with no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def raw(width: int, height: int, pixel_format: int, size: int) -> pb.Image:
    return pb.Image(raw=pb.RawImage(width=width, height=height, format=pixel_format, pixels=b"\x80" * size))


def status_of_inspect(stub, product_id: str, image: pb.Image) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Inspect(pb.InspectRequest(product_id=product_id, image=image))
    assert raised.value.details()  # every refusal says why
    return raised.value.code()


@pytest.mark.parametrize(
    "image",
    [
        pb.Image(encoded=b"GIF89a not supported, not decodable"),
        pb.Image(encoded=b""),
        raw(8, 8, pb.PIXEL_FORMAT_RGB8, 8 * 8 * 3 - 1),  # size mismatch
        raw(8, 8, pb.PIXEL_FORMAT_UNSPECIFIED, 8 * 8 * 3),  # pixel format not set
        raw(0, 8, pb.PIXEL_FORMAT_GRAY8, 0),  # empty
        pb.Image(),  # no image at all
    ],
    ids=["undecodable", "empty-bytes", "raw-size-mismatch", "unset-pixel-format", "zero-width", "no-image"],
)
def test_bad_image_is_invalid_argument(stub, taught, image):
    assert status_of_inspect(stub, PRODUCT, image) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_raw_image_of_an_unknown_pixel_format_is_told_so(stub, taught):
    with pytest.raises(grpc.RpcError) as raised:
        stub.Inspect(pb.InspectRequest(product_id=PRODUCT, image=raw(8, 8, 7, 8 * 8 * 3)))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown pixel format 7" in raised.value.details()


@pytest.mark.parametrize("product_id", ["", "Upper-Case", "../escape", "a" * 65, "-leading-dash"])
def test_bad_product_id_is_invalid_argument(stub, product_id):
    image = encoded(good_part(np.random.default_rng(0)))
    assert status_of_inspect(stub, product_id, image) == grpc.StatusCode.INVALID_ARGUMENT


def test_empty_teach_set_is_invalid_argument(stub):
    with pytest.raises(grpc.RpcError) as raised:
        stub.Teach(pb.TeachRequest(product_id="empty-set"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_one_bad_teach_image_fails_the_teach_and_stores_nothing(stub):
    request = teach_request("half-bad", seed=9, count=4)
    request.images[2].encoded = b"garbage"
    with pytest.raises(grpc.RpcError) as raised:
        stub.Teach(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "teach image 3" in raised.value.details()
    with pytest.raises(grpc.RpcError) as lookup:
        stub.GetProduct(pb.GetProductRequest(product_id="half-bad"))
    assert lookup.value.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_update_field_is_invalid_argument(stub, taught):
    request = pb.UpdateProductRequest(product_id=PRODUCT, update_fields=["colour"])
    with pytest.raises(grpc.RpcError) as raised:
        stub.UpdateProduct(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("threshold", [2.5, -0.5])
def test_threshold_outside_the_cosine_distance_range_is_invalid_argument(stub, taught, threshold):
    request = pb.UpdateProductRequest(product_id=PRODUCT, options=pb.ProductOptions(threshold=threshold))
    with pytest.raises(grpc.RpcError) as raised:
        stub.UpdateProduct(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "from 0 to 2" in raised.value.details()


def test_update_that_changes_nothing_is_invalid_argument(stub, taught):
    with pytest.raises(grpc.RpcError) as raised:
        stub.UpdateProduct(pb.UpdateProductRequest(product_id=PRODUCT, options=pb.ProductOptions()))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_fields" in raised.value.details()


def test_unknown_product_is_not_found(stub):
    image = encoded(good_part(np.random.default_rng(0)))
    assert status_of_inspect(stub, "never-taught", image) == grpc.StatusCode.NOT_FOUND
    for call, request in [
        (stub.GetProduct, pb.GetProductRequest(product_id="never-taught")),
        (stub.DeleteProduct, pb.DeleteProductRequest(product_id="never-taught")),
        (stub.UpdateProduct, pb.UpdateProductRequest(product_id="never-taught")),
    ]:
        with pytest.raises(grpc.RpcError) as raised:
            call(request)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("product_id", [FOREIGN_PRODUCT, BROKEN_PRODUCT])
def test_product_unusable_with_the_model_is_failed_precondition(stub, product_id):
    image = encoded(good_part(np.random.default_rng(0)))
    assert status_of_inspect(stub, product_id, image) == grpc.StatusCode.FAILED_PRECONDITION


def test_image_declaring_more_pixels_than_the_cap_is_resource_exhausted(stub, taught):
    image = pb.Image(encoded=png_declaring(100_000, 100_000))
    assert status_of_inspect(stub, PRODUCT, image) == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_raw_image_over_the_pixel_cap_is_resource_exhausted(stub, taught):
    image = pb.Image(raw=pb.RawImage(width=10_000, height=10_000, format=pb.PIXEL_FORMAT_GRAY8, pixels=b"x"))
    assert status_of_inspect(stub, PRODUCT, image) == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_message_over_the_size_limit_is_resource_exhausted(stub, taught):
    image = pb.Image(encoded=b"\0" * (MAX_MESSAGE_BYTES + 1))
    assert status_of_inspect(stub, PRODUCT, image) == grpc.StatusCode.RESOURCE_EXHAUSTED
