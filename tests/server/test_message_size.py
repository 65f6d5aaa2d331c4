"""Messages over --max-message-bytes: a stream answers the frame and goes on; past twice the limit the
transport ends the call."""

import queue

import cv2
import grpc
import numpy as np
import pytest
from patchcore_client.synthetic import good_part
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import MAX_MESSAGE_BYTES, PRODUCT, encoded, scrape

RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def frame(frame_id: int, image: pb.Image) -> pb.InspectRequest:
    return pb.InspectRequest(product_id=PRODUCT, frame_id=frame_id, image=image)


@pytest.fixture(scope="module")
def good() -> pb.Image:
    return encoded(good_part(np.random.default_rng(30)))


def oversized(byte_count: int) -> pb.Image:
    return pb.Image(encoded=b"\0" * byte_count)


def test_a_frame_over_the_limit_gets_its_own_error_and_the_stream_goes_on(stub, taught, good):
    requests = [frame(1, good), frame(2, oversized(MAX_MESSAGE_BYTES)), frame(3, good)]

    responses = list(stub.InspectStream(iter(requests)))

    assert [r.frame_id for r in responses] == [1, 2, 3]
    assert [r.error.code for r in responses] == [0, RESOURCE_EXHAUSTED.value[0], 0]
    assert "at most 4,194,304 (--max-message-bytes)" in responses[1].error.message
    assert responses[2].score > 0


def test_a_frame_over_the_limit_counts_as_a_failure_of_its_product(served, stub, taught):
    """It is refused before its product is looked up, and still counts for the product, not "_unknown"."""
    failure = f'patchcore_inference_request_failure_total{{code="RESOURCE_EXHAUSTED",product="{PRODUCT}"}}'
    before = scrape(served.metrics_port).get(failure, 0)
    next(stub.InspectStream(iter([frame(1, oversized(MAX_MESSAGE_BYTES))])))
    assert scrape(served.metrics_port)[failure] == before + 1


def test_unary_calls_over_the_limit_get_the_same_answer(stub, taught):
    request = frame(2, oversized(MAX_MESSAGE_BYTES))
    [in_stream] = stub.InspectStream(iter([request]))

    with pytest.raises(grpc.RpcError) as inspect:
        stub.Inspect(request)
    with pytest.raises(grpc.RpcError) as teach:
        stub.Teach(pb.TeachRequest(product_id="too-large", images=[request.image]))

    assert (inspect.value.code(), inspect.value.details()) == (RESOURCE_EXHAUSTED, in_stream.error.message)
    assert teach.value.code() == RESOURCE_EXHAUSTED
    assert "at most 4,194,304 (--max-message-bytes)" in teach.value.details()


@pytest.mark.parametrize("method", ["Teach", "AddImages"])
def test_a_set_of_images_over_the_limit_is_told_to_raise_it_or_send_fewer_images(stub, taught, good, method):
    """A Teach or AddImages over the limit is many images, each as small as it can be: the advice is to
    raise the limit or split the set, not to send a smaller image."""
    images = [good] * (MAX_MESSAGE_BYTES // good.ByteSize() + 1)
    request = (
        pb.TeachRequest(product_id="too-many", images=images)
        if method == "Teach"
        else pb.AddImagesRequest(product_id=PRODUCT, images=images)
    )

    with pytest.raises(grpc.RpcError) as refused:
        getattr(stub, method)(request)

    assert refused.value.code() == RESOURCE_EXHAUSTED
    details = refused.value.details()
    assert "larger --max-message-bytes" in details and "fewer images" in details
    assert "a smaller or an encoded" not in details


def test_a_frame_over_twice_the_limit_ends_the_stream(stub, taught, good):
    """The transport refuses it: the call ends with RESOURCE_EXHAUSTED; answers already sent arrive, later
    frames are not answered, and the server goes on serving other calls."""
    requests: queue.Queue = queue.Queue()
    responses = stub.InspectStream(iter(requests.get, None), timeout=120)
    requests.put(frame(1, good))
    assert next(responses).frame_id == 1

    requests.put(frame(2, oversized(2 * MAX_MESSAGE_BYTES)))
    requests.put(frame(3, good))
    with pytest.raises(grpc.RpcError) as ended:
        next(responses)
    requests.put(None)

    assert ended.value.code() == RESOURCE_EXHAUSTED
    assert stub.Inspect(frame(4, good)).frame_id == 4


def test_an_answer_over_the_limit_is_the_frames_own_error_and_the_stream_goes_on(stub, taught, good):
    width, height = 1200, 1000  # a FLOAT32 heatmap of 4.8 MB, over the 4 MiB limit
    part = cv2.resize(good_part(np.random.default_rng(31)), (width, height))
    pixels = cv2.cvtColor(part, cv2.COLOR_RGB2GRAY).tobytes()
    large = pb.Image(raw=pb.RawImage(width=width, height=height, format=pb.PIXEL_FORMAT_GRAY8, pixels=pixels))
    requests = [
        pb.InspectRequest(product_id=PRODUCT, frame_id=1, image=large, heatmap=pb.HEATMAP_FORMAT_FLOAT32),
        pb.InspectRequest(product_id=PRODUCT, frame_id=2, image=large, heatmap=pb.HEATMAP_FORMAT_PNG),
        frame(3, good),
    ]

    responses = list(stub.InspectStream(iter(requests)))

    assert [r.frame_id for r in responses] == [1, 2, 3]
    assert [r.error.code for r in responses] == [RESOURCE_EXHAUSTED.value[0], 0, 0]
    assert "heatmap" in responses[0].error.message and "4,194,304" in responses[0].error.message
    assert (responses[1].heatmap.width, responses[1].heatmap.height) == (width, height)


def test_a_png_heatmap_over_the_limit_is_not_told_to_ask_for_a_png_heatmap(stub, taught):
    large = cv2.resize(good_part(np.random.default_rng(32)), (3000, 3000))  # its PNG overlay: 4.7 MB
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(large, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    request = pb.InspectRequest(
        product_id=PRODUCT, frame_id=1, image=pb.Image(encoded=jpeg.tobytes()), heatmap=pb.HEATMAP_FORMAT_PNG
    )

    [response] = stub.InspectStream(iter([request]))

    assert response.error.code == RESOURCE_EXHAUSTED.value[0]
    assert "4,194,304" in response.error.message
    assert "ask for a PNG heatmap" not in response.error.message
    assert "no heatmap" in response.error.message
