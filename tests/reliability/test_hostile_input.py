"""Hostile input gets a specific status, changes nothing, and the server keeps serving.

Complements tests/server/test_status_codes.py (the everyday bad inputs) with what an attacker or a broken
client sends: unparsable messages, unknown enum numbers, path tricks in product ids, poisoned options,
a configured pixel cap, and a Teach that declares far more pixels than it weighs.
"""

import struct
import zlib
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import (
    SERVING,
    health_status,
    inspect_request,
    raw_image,
    start_server,
    status_code,
    stub_for,
)
from reliability_support import teach_request as make_teach_request

PRODUCT = "target"
PIXEL_CAP = 20_000_000
MAX_TEACH_IMAGES = 30
SERVICE = "/patchcore.edge.v1.InspectionService"
UNARY_METHODS = ("Teach", "AddImages", "Inspect", "GetProduct", "ListProducts", "UpdateProduct",
                 "DeleteProduct", "GetServerInfo")  # fmt: skip
# field 1 = product_id
NAMING_PRODUCT = ("Teach", "AddImages", "Inspect", "GetProduct", "UpdateProduct", "DeleteProduct")
# Bytes protobuf cannot parse: a length-delimited field 1 whose length runs past the end (any message), and
# a product_id (field 1) holding bytes that are not UTF-8.
TRUNCATED = b"\x0a\xff\xff\xff\x0f"
NOT_UTF8 = b"\x0a\x02\xff\xfe"
UNPARSABLE = [(method, TRUNCATED) for method in UNARY_METHODS] + [(m, NOT_UTF8) for m in NAMING_PRODUCT]


@pytest.fixture(scope="module")
def served(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    store = folder / "store"
    limits = ["--max-image-pixels", str(PIXEL_CAP), "--max-teach-images", str(MAX_TEACH_IMAGES)]
    server = start_server(tiny_model, store, folder, *limits)
    with server, grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        stub.Teach(make_teach_request(PRODUCT, seed=1))
        yield server, channel, stub, store


def png_declaring(width: int, height: int) -> bytes:
    """A PNG signature and header declaring width x height, with no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def stored_files(store: Path) -> list[str]:
    return sorted(str(path.relative_to(store)) for path in store.rglob("*"))


def assert_still_serving(channel, stub):
    assert health_status(channel) == SERVING
    assert not stub.Inspect(inspect_request(PRODUCT)).HasField("error")


@pytest.mark.parametrize(("method", "payload"), UNPARSABLE)
def test_unparsable_request_is_invalid_argument(served, method, payload):
    _, channel, stub, _ = served
    call = channel.unary_unary(f"{SERVICE}/{method}")
    with pytest.raises(grpc.RpcError) as raised:
        call(payload, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid protobuf message" in raised.value.details()
    assert_still_serving(channel, stub)


def test_unparsable_frame_ends_the_stream_after_answering_the_frames_before_it(served):
    _, channel, stub, _ = served
    call = channel.stream_stream(
        f"{SERVICE}/InspectStream", response_deserializer=pb.InspectResponse.FromString
    )
    good = [inspect_request(PRODUCT, frame_id=i).SerializeToString() for i in (1, 2)]
    responses = call(iter([*good, TRUNCATED, good[0]]), timeout=30)
    answered = []
    with pytest.raises(grpc.RpcError) as raised:
        answered.extend(responses)
    assert [(r.frame_id, r.HasField("error")) for r in answered] == [(1, False), (2, False)]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert_still_serving(channel, stub)


def test_unknown_enum_numbers_are_invalid_argument(served):
    _, channel, stub, _ = served
    heatmap = inspect_request(PRODUCT)
    heatmap.heatmap = 7
    pixel_format = inspect_request(PRODUCT)
    pixel_format.image.raw.format = 9
    assert status_code(stub.Inspect, heatmap) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(stub.Inspect, pixel_format) == grpc.StatusCode.INVALID_ARGUMENT
    [in_stream] = stub.InspectStream(iter([heatmap]))
    assert in_stream.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert_still_serving(channel, stub)


ESCAPING_IDS = ["..", "../outside", "a/../../outside", "/etc", "a\\b", ".hidden", "x" * 65, "a\x00b",
                "café", "a\nb", " a", "A", "%2e%2e"]  # fmt: skip


@pytest.mark.parametrize("product_id", ESCAPING_IDS)
def test_product_ids_cannot_reach_outside_the_store(served, product_id):
    _, channel, stub, store = served
    rng = np.random.default_rng(3)
    before_store, before_parent = stored_files(store), sorted(p.name for p in store.parent.iterdir())
    calls = [
        (stub.Teach, make_teach_request(product_id, seed=2)),
        (stub.AddImages, pb.AddImagesRequest(product_id=product_id, images=[raw_image(rng)])),
        (stub.Inspect, inspect_request(product_id)),
        (stub.GetProduct, pb.GetProductRequest(product_id=product_id)),
        (
            stub.UpdateProduct,
            pb.UpdateProductRequest(product_id=product_id, options=pb.ProductOptions(threshold=1)),
        ),
        (stub.DeleteProduct, pb.DeleteProductRequest(product_id=product_id)),
    ]
    assert [status_code(call, request) for call, request in calls] == [grpc.StatusCode.INVALID_ARGUMENT] * 6
    assert stored_files(store) == before_store
    assert sorted(p.name for p in store.parent.iterdir()) == before_parent
    assert_still_serving(channel, stub)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "options",
    [pb.TeachOptions(coreset_ratio=NAN), pb.TeachOptions(coreset_ratio=-0.5),
     pb.TeachOptions(coreset_ratio=1.5), pb.TeachOptions(threshold_scale=INF),
     pb.TeachOptions(threshold_scale=-1.0)],
    ids=["ratio-nan", "ratio-negative", "ratio-above-1", "scale-inf", "scale-negative"],
)  # fmt: skip
def test_poisoned_teach_options_are_refused_and_leave_the_product_as_it_was(served, options):
    _, _, stub, store = served
    before = stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT))
    files = stored_files(store)
    request = make_teach_request(PRODUCT, seed=3)
    request.options.CopyFrom(options)
    assert status_code(stub.Teach, request) == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT)) == before
    assert stored_files(store) == files


@pytest.mark.parametrize("threshold", [NAN, INF, -0.1])
def test_poisoned_threshold_update_is_refused(served, threshold):
    _, _, stub, _ = served
    before = stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT))
    request = pb.UpdateProductRequest(
        product_id=PRODUCT, options=pb.ProductOptions(threshold=threshold), update_fields=["threshold"]
    )
    assert status_code(stub.UpdateProduct, request) == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT)) == before


def test_reteach_with_one_bad_image_keeps_the_old_version_and_writes_nothing(served):
    _, _, stub, store = served
    before = stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT))
    files = stored_files(store)
    request = make_teach_request(PRODUCT, seed=4, count=6)
    request.images[5].raw.pixels = request.images[5].raw.pixels[:-1]
    with pytest.raises(grpc.RpcError) as raised:
        stub.Teach(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "teach image 6" in raised.value.details()
    assert stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT)) == before
    assert stored_files(store) == files
    assert stub.Inspect(inspect_request(PRODUCT)).product_version == before.version


@pytest.mark.parametrize(
    ("image", "code"),
    [
        (pb.Image(encoded=png_declaring(5000, 4001)), grpc.StatusCode.RESOURCE_EXHAUSTED),  # cap + 5000
        (pb.Image(encoded=png_declaring(5000, 4000)), grpc.StatusCode.INVALID_ARGUMENT),  # at the cap
        (pb.Image(raw=pb.RawImage(width=5000, height=4001, format=pb.PIXEL_FORMAT_GRAY8, pixels=b"\0")),
         grpc.StatusCode.RESOURCE_EXHAUSTED),
        (pb.Image(raw=pb.RawImage(width=5000, height=4000, format=pb.PIXEL_FORMAT_GRAY8, pixels=b"\0")),
         grpc.StatusCode.INVALID_ARGUMENT),  # within the cap, but 1 byte is not 20 M
        (pb.Image(raw=pb.RawImage(width=2**32 - 1, height=2**32 - 1, format=pb.PIXEL_FORMAT_RGB8)),
         grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
    ids=["png-over", "png-at", "raw-over", "raw-at", "raw-uint32-max"],
)  # fmt: skip
def test_the_configured_pixel_cap_is_applied_before_decoding(served, image, code):
    _, channel, stub, _ = served
    assert stub.GetServerInfo(pb.GetServerInfoRequest()).max_image_pixels == PIXEL_CAP
    assert status_code(stub.Inspect, pb.InspectRequest(product_id=PRODUCT, image=image)) == code
    assert_still_serving(channel, stub)


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def over_the_image_count_limit(stub, call: str):
    """A request of `call` that would teach a product one image more than MAX_TEACH_IMAGES."""
    if call == "Teach":
        return make_teach_request("crowd", seed=5, count=MAX_TEACH_IMAGES + 1)
    stub.Teach(make_teach_request("grown", seed=6, count=MAX_TEACH_IMAGES - 1))
    rng = np.random.default_rng(7)
    return pb.AddImagesRequest(product_id="grown", images=[raw_image(rng) for _ in range(2)])


@pytest.mark.parametrize("call", ["Teach", "AddImages"])
def test_a_teach_set_over_the_image_count_limit_is_refused_before_decoding(served, call):
    """Tiny images are cheap to send but each is held at the model's size: 64 MiB of 70-byte PNGs would be
    a million of them."""
    _, channel, stub, store = served
    request = over_the_image_count_limit(stub, call)
    files = stored_files(store)
    with pytest.raises(grpc.RpcError) as raised:
        getattr(stub, call)(request)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"{MAX_TEACH_IMAGES + 1} " in raised.value.details()
    assert f"this server takes at most {MAX_TEACH_IMAGES} per product" in raised.value.details()
    assert stored_files(store) == files
    assert_still_serving(channel, stub)


def test_teach_of_many_large_images_holds_one_full_size_image_at_a_time(served):
    """24 PNGs of 4000 x 4000 (48 MB each decoded, 1.1 GB together) weigh about 1 MB on the wire."""
    server, _, stub, _ = served
    shade = np.full((4000, 4000, 3), 120, np.uint8)
    shade[::50] = 90  # some structure, still compressing ~1000:1
    ok, png = cv2.imencode(".png", shade, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    request = pb.TeachRequest(product_id="large-parts", images=[pb.Image(encoded=png.tobytes())] * 24)
    request.options.coreset_ratio = 0.05
    before = peak_rss_bytes(server.process.pid)
    product = stub.Teach(request, timeout=300)
    assert product.teach_stats.image_count == 24
    assert peak_rss_bytes(server.process.pid) - before < 400 * 2**20
