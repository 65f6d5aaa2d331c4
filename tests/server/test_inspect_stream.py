"""InspectStream end to end: order, frame ids, verdicts on planted defects, in-stream errors, heatmaps."""

import cv2
import numpy as np
from patchcore_client.synthetic import good_part, inspection_sequence
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import PRODUCT, encoded

FRAME_COUNT = 200


def test_stream_answers_200_frames_in_order_with_right_verdicts(stub, taught):
    frames = inspection_sequence(np.random.default_rng(2), FRAME_COUNT, defect_every=5)
    frame_ids = [1_000_000 + 7 * index for index in range(FRAME_COUNT)]  # not 0, 1, 2: ids are echoed
    requests = (
        pb.InspectRequest(product_id=PRODUCT, frame_id=frame_id, image=encoded(image))
        for frame_id, (image, _) in zip(frame_ids, frames, strict=True)
    )
    responses = list(stub.InspectStream(requests))

    assert [response.frame_id for response in responses] == frame_ids
    assert not any(response.HasField("error") for response in responses)
    verdicts = [response.anomalous for response in responses]
    assert verdicts == [expected != "good" for _, expected in frames]
    assert all(response.product_version == taught.version for response in responses)
    assert all(response.regions for response in responses if response.anomalous)


def test_bad_frames_get_their_own_error_and_the_stream_goes_on(stub, taught):
    good = encoded(good_part(np.random.default_rng(3)))
    requests = [
        pb.InspectRequest(product_id=PRODUCT, frame_id=1, image=good),
        pb.InspectRequest(product_id=PRODUCT, frame_id=2, image=pb.Image(encoded=b"not an image")),
        pb.InspectRequest(product_id="no-such-product", frame_id=3, image=good),
        pb.InspectRequest(
            product_id=PRODUCT,
            frame_id=4,
            image=pb.Image(raw=pb.RawImage(width=4, height=4, format=pb.PIXEL_FORMAT_RGB8, pixels=b"\0" * 5)),
        ),
        pb.InspectRequest(product_id=PRODUCT, frame_id=5, image=good),
    ]
    responses = list(stub.InspectStream(iter(requests)))

    assert [r.frame_id for r in responses] == [1, 2, 3, 4, 5]
    assert [r.error.code for r in responses] == [0, 3, 5, 3, 0]  # OK, INVALID_ARGUMENT, NOT_FOUND
    assert all(r.error.message for r in responses[1:4])
    assert responses[4].score > 0 and not responses[4].anomalous


def test_float32_heatmap_has_the_frame_size_and_peaks_at_the_defect(stub, taught):
    image = cv2.resize(good_part(np.random.default_rng(4)), (200, 240))  # a frame that is not square
    cv2.circle(image, (140, 120), 8, (120, 74, 40), -1)  # a spot on the flange, right of the bore
    request = pb.InspectRequest(product_id=PRODUCT, image=encoded(image), heatmap=pb.HEATMAP_FORMAT_FLOAT32)
    response = stub.Inspect(request)

    heatmap = np.frombuffer(response.heatmap.float32, dtype="<f4").reshape(240, 200)
    assert (response.heatmap.width, response.heatmap.height) == (200, 240)
    peak_y, peak_x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert abs(peak_x - 140) < 20 and abs(peak_y - 120) < 20
    assert response.anomalous


def test_png_heatmap_is_an_overlay_at_the_frame_size(stub, taught):
    request = pb.InspectRequest(
        product_id=PRODUCT, image=encoded(good_part(np.random.default_rng(5))), heatmap=pb.HEATMAP_FORMAT_PNG
    )
    response = stub.Inspect(request)

    overlay = cv2.imdecode(np.frombuffer(response.heatmap.png, np.uint8), cv2.IMREAD_COLOR)
    assert overlay.shape == (256, 256, 3)
    assert not response.heatmap.float32


def test_raw_bgr_and_gray_frames_score_like_encoded_ones(stub, taught):
    rgb = good_part(np.random.default_rng(6))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    def score(image: pb.Image) -> float:
        return stub.Inspect(pb.InspectRequest(product_id=PRODUCT, image=image)).score

    raw_bgr = pb.RawImage(width=256, height=256, format=pb.PIXEL_FORMAT_BGR8, pixels=bgr.tobytes())
    raw_gray = pb.RawImage(width=256, height=256, format=pb.PIXEL_FORMAT_GRAY8, pixels=gray.tobytes())
    assert abs(score(pb.Image(raw=raw_bgr)) - score(encoded(rgb))) < 1e-5
    gray_rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    assert abs(score(pb.Image(raw=raw_gray)) - score(encoded(gray_rgb))) < 1e-5


def test_response_reports_timings(stub, taught):
    response = stub.Inspect(
        pb.InspectRequest(product_id=PRODUCT, image=encoded(good_part(np.random.default_rng(8))))
    )
    timings = response.timings
    assert timings.inference_ms > 0
    assert timings.total_ms >= timings.inference_ms


def test_a_large_jpeg_frame_gets_heatmap_and_regions_in_its_own_pixels(stub, taught):
    part = cv2.resize(good_part(np.random.default_rng(4)), (480, 480))
    frame = cv2.copyMakeBorder(part, 0, 0, 80, 80, cv2.BORDER_REPLICATE)  # 640x480, decoded at 1/4 or 1/2
    cv2.circle(frame, (80 + 336, 240), 32, (120, 74, 40), -1)  # a spot on the flange, right of the bore
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    request = pb.InspectRequest(
        product_id=PRODUCT, image=pb.Image(encoded=jpeg.tobytes()), heatmap=pb.HEATMAP_FORMAT_FLOAT32
    )
    response = stub.Inspect(request)

    assert ok and response.anomalous
    assert (response.heatmap.width, response.heatmap.height) == (640, 480)
    heatmap = np.frombuffer(response.heatmap.float32, dtype="<f4").reshape(480, 640)
    peak_y, peak_x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert abs(peak_x - 416) < 60 and abs(peak_y - 240) < 60
    region = response.regions[0]
    assert region.x <= 416 <= region.x + region.width and region.y <= 240 <= region.y + region.height


def test_png_heatmap_of_a_large_jpeg_frame_is_drawn_at_the_frame_size(stub, taught):
    part = cv2.resize(good_part(np.random.default_rng(5)), (480, 480))
    frame = cv2.copyMakeBorder(part, 0, 0, 80, 80, cv2.BORDER_REPLICATE)  # 640x480, decoded scaled
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    request = pb.InspectRequest(
        product_id=PRODUCT, image=pb.Image(encoded=jpeg.tobytes()), heatmap=pb.HEATMAP_FORMAT_PNG
    )
    response = stub.Inspect(request)

    overlay = cv2.imdecode(np.frombuffer(response.heatmap.png, np.uint8), cv2.IMREAD_COLOR)
    assert ok and overlay.shape == (480, 640, 3)
