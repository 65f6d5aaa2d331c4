"""Region of interest and tiling over gRPC: what the model sees of a frame, and where verdicts land."""

import cv2
import numpy as np
import pytest
from grpc import RpcError, StatusCode
from patchcore_client.synthetic import machined_surface
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import encoded, teach_frames, with_pit

ROI = pb.Rect(x=0, y=0, width=320, height=480)  # the left half of a 640 x 480 frame
PIT_IN_ROI, PIT_OUTSIDE = (160, 240), (480, 240)


def inspect(stub, product_id: str, frame: np.ndarray, heatmap: int = pb.HEATMAP_FORMAT_NONE):
    return stub.Inspect(pb.InspectRequest(product_id=product_id, image=encoded(frame), heatmap=heatmap))


@pytest.fixture(scope="module")
def surfaces() -> list[np.ndarray]:
    """Four 640 x 480 surfaces to teach with and one to inspect."""
    rng = np.random.default_rng(11)
    return [machined_surface(rng, 480, 640) for _ in range(5)]


@pytest.fixture(scope="module")
def roi_product(stub, surfaces) -> pb.Product:
    return teach_frames(stub, "with-roi", surfaces[:4], roi=ROI)


def test_the_product_shows_its_roi(stub, roi_product):
    shown = stub.GetProduct(pb.GetProductRequest(product_id="with-roi")).teach_options.roi
    assert (shown.x, shown.y, shown.width, shown.height) == (0, 0, 320, 480)
    assert roi_product.teach_options.HasField("roi")


def test_a_defect_outside_the_roi_is_not_flagged_and_one_inside_is(stub, roi_product, surfaces):
    good = surfaces[4]
    assert not inspect(stub, "with-roi", good).anomalous
    assert not inspect(stub, "with-roi", with_pit(good, PIT_OUTSIDE, 12)).anomalous
    inside = inspect(stub, "with-roi", with_pit(good, PIT_IN_ROI, 12))
    assert inside.anomalous
    (region, *_) = inside.regions
    assert region.x <= PIT_IN_ROI[0] < region.x + region.width
    assert region.y <= PIT_IN_ROI[1] < region.y + region.height


def test_the_heatmap_covers_the_whole_frame_and_is_zero_outside_the_roi(stub, roi_product, surfaces):
    response = inspect(stub, "with-roi", with_pit(surfaces[4], PIT_IN_ROI, 12), pb.HEATMAP_FORMAT_FLOAT32)
    heatmap = np.frombuffer(response.heatmap.float32, dtype="<f4").reshape(480, 640)
    assert not heatmap[:, 320:].any()
    peak_y, peak_x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert abs(peak_x - PIT_IN_ROI[0]) < 30 and abs(peak_y - PIT_IN_ROI[1]) < 30


def test_a_frame_without_the_roi_gets_an_in_stream_error_and_the_stream_goes_on(stub, roi_product, surfaces):
    small = surfaces[4][:200, :200]
    requests = [
        pb.InspectRequest(product_id="with-roi", frame_id=frame_id, image=encoded(frame))
        for frame_id, frame in enumerate([surfaces[4], small, surfaces[4]])
    ]
    responses = list(stub.InspectStream(iter(requests)))
    assert [response.error.code for response in responses] == [0, StatusCode.INVALID_ARGUMENT.value[0], 0]
    assert "320x480" in responses[1].error.message and "200x200" in responses[1].error.message


def test_a_teach_image_without_the_roi_fails_the_teach_naming_it(stub, surfaces):
    frames = [surfaces[0], surfaces[1][:300, :300], surfaces[2]]
    with pytest.raises(RpcError) as failure:
        teach_frames(stub, "roi-too-big", frames, roi=ROI)
    assert failure.value.code() == StatusCode.INVALID_ARGUMENT
    assert "teach image 2" in failure.value.details() and "300x300" in failure.value.details()
    with pytest.raises(RpcError) as missing:
        stub.GetProduct(pb.GetProductRequest(product_id="roi-too-big"))
    assert missing.value.code() == StatusCode.NOT_FOUND


@pytest.fixture(scope="module")
def wide_surfaces() -> list[np.ndarray]:
    """Eight 768 x 512 surfaces to teach with (a product's usual teach set) and one to inspect."""
    rng = np.random.default_rng(12)
    return [machined_surface(rng, 512, 768) for _ in range(9)]


def test_tiling_finds_a_small_pit_that_the_whole_frame_resize_misses(stub, wide_surfaces):
    teach_frames(stub, "whole-frame", wide_surfaces[:8])
    tiled = teach_frames(stub, "tiled", wide_surfaces[:8], tile_size=128)
    assert tiled.teach_options.tile_size == 128
    assert tiled.teach_stats.fine_bank_size == 0  # tiles enlarged to the model's 224 pixels: no fine bank
    pit = (512, 170)
    frame = with_pit(wide_surfaces[8], pit, 2)

    assert not inspect(stub, "tiled", wide_surfaces[8]).anomalous
    assert not inspect(stub, "whole-frame", frame).anomalous
    found = inspect(stub, "tiled", frame, pb.HEATMAP_FORMAT_FLOAT32)
    assert found.anomalous
    (region, *_) = found.regions  # in frame pixels, around the pit
    assert abs(region.x + region.width / 2 - pit[0]) < 16 and abs(region.y + region.height / 2 - pit[1]) < 16
    assert (found.heatmap.width, found.heatmap.height) == (768, 512)


def test_tiles_of_512_find_a_pit_7_pixels_across_on_a_1024_frame(stub):
    """Each tile is shrunk to the model's 224 pixels, so the product has a fine channel (patchcore/fine.py)
    for defects about a stride-4 cell of the model input in size. Six good frames, three in the Teach and
    three added: six of these PNGs are over the test server's 4 MiB message limit."""
    rng = np.random.default_rng(12)
    surfaces = [machined_surface(rng, 768, 1024) for _ in range(9)]
    teach_frames(stub, "tiled-512", surfaces[:3], tile_size=512)
    grown = stub.AddImages(
        pb.AddImagesRequest(product_id="tiled-512", images=[encoded(good) for good in surfaces[3:6]])
    )
    pit = (300, 400)

    # a hundredth of 6 frames x 4 tiles (2 x 2, overlapping) x 56 x 56 stride-4 cells, rounded up
    assert grown.teach_stats.fine_bank_size == 753
    assert not inspect(stub, "tiled-512", surfaces[8]).anomalous
    found = inspect(stub, "tiled-512", with_pit(surfaces[8], pit, 3))
    assert found.anomalous
    (region, *_) = found.regions
    assert abs(region.x + region.width / 2 - pit[0]) < 24 and abs(region.y + region.height / 2 - pit[1]) < 24


@pytest.mark.parametrize("tile_size", [16, 9000])
def test_a_tile_size_out_of_range_is_invalid(stub, wide_surfaces, tile_size):
    with pytest.raises(RpcError) as failure:
        teach_frames(stub, "bad-tiles", wide_surfaces[:2], tile_size=tile_size)
    assert failure.value.code() == StatusCode.INVALID_ARGUMENT
    assert "tile_size" in failure.value.details()


def test_too_many_tiles_are_refused_with_the_count(stub, wide_surfaces):
    with pytest.raises(RpcError) as failure:
        teach_frames(stub, "tiny-tiles", wide_surfaces[:2], tile_size=32)
    assert failure.value.code() == StatusCode.RESOURCE_EXHAUSTED
    assert "384 tiles" in failure.value.details()


def test_a_frame_of_another_size_than_the_teach_frames_is_refused_in_the_stream(stub, wide_surfaces):
    teach_frames(stub, "tiled-size", wide_surfaces[:3], tile_size=256)
    good = wide_surfaces[8]
    rescaled = cv2.resize(good, (1024, 683), interpolation=cv2.INTER_LINEAR)  # a camera set to another size
    requests = [
        pb.InspectRequest(product_id="tiled-size", frame_id=frame_id, image=encoded(frame))
        for frame_id, frame in enumerate([good, rescaled, good])
    ]
    responses = list(stub.InspectStream(iter(requests)))
    assert [response.error.code for response in responses] == [0, StatusCode.INVALID_ARGUMENT.value[0], 0]
    assert "1024x683" in responses[1].error.message and "768x512" in responses[1].error.message


def test_a_larger_frame_is_refused_even_when_it_holds_the_roi(stub, roi_product, surfaces):
    larger = np.pad(surfaces[4], ((0, 120), (0, 160), (0, 0)), mode="reflect")  # 800 x 600, ROI inside
    with pytest.raises(RpcError) as failure:
        inspect(stub, "with-roi", larger)
    assert failure.value.code() == StatusCode.INVALID_ARGUMENT
    assert "800x600" in failure.value.details() and "640x480" in failure.value.details()


def test_teach_and_add_images_refuse_images_of_another_size_for_a_tiled_product(stub, wide_surfaces):
    smaller = wide_surfaces[2][:384, :640]
    with pytest.raises(RpcError) as teach_failure:
        teach_frames(stub, "tiled-mixed", [wide_surfaces[0], wide_surfaces[1], smaller], tile_size=256)
    assert teach_failure.value.code() == StatusCode.INVALID_ARGUMENT
    assert "teach image 3" in teach_failure.value.details() and "640x384" in teach_failure.value.details()
    taught = teach_frames(stub, "tiled-add", wide_surfaces[:2], tile_size=256)
    with pytest.raises(RpcError) as add_failure:
        stub.AddImages(pb.AddImagesRequest(product_id="tiled-add", images=[encoded(smaller)]))
    assert add_failure.value.code() == StatusCode.INVALID_ARGUMENT
    assert "added image 1" in add_failure.value.details() and "768x512" in add_failure.value.details()
    assert stub.GetProduct(pb.GetProductRequest(product_id="tiled-add")).version == taught.version


def test_a_whole_frame_product_takes_frames_of_any_size(stub, wide_surfaces):
    teach_frames(stub, "whole-any-size", [wide_surfaces[0], wide_surfaces[1][:400, :600]])
    response = inspect(stub, "whole-any-size", wide_surfaces[8][:300, :500])
    assert response.score > 0


def test_a_teach_image_under_32_pixels_a_side_fails_the_teach_naming_it(stub, surfaces):
    frames = [surfaces[0], surfaces[1][:16, :16], surfaces[2]]
    with pytest.raises(RpcError) as failure:
        teach_frames(stub, "thumbnail", frames)
    assert failure.value.code() == StatusCode.INVALID_ARGUMENT
    details = failure.value.details()
    assert "teach image 2: the image is 16x16 pixels" in details and "32x32" in details
    assert_not_stored(stub, "thumbnail")


def test_a_region_of_interest_under_32_pixels_a_side_fails_the_teach_naming_it(stub, surfaces):
    with pytest.raises(RpcError) as failure:
        teach_frames(stub, "one-pixel-roi", surfaces[:4], roi=pb.Rect(x=100, y=50, width=1, height=1))
    assert failure.value.code() == StatusCode.INVALID_ARGUMENT
    details = failure.value.details()
    assert "region of interest at x=100 y=50 is 1x1 pixels" in details and "32x32" in details
    assert_not_stored(stub, "one-pixel-roi")


def test_a_frame_under_32_pixels_a_side_is_invalid_as_any_bad_frame(stub, taught, surfaces):
    tiny = surfaces[4][:16, :24]
    with pytest.raises(RpcError) as refused:
        stub.Inspect(pb.InspectRequest(product_id=taught.product_id, image=encoded(tiny)))
    assert refused.value.code() == StatusCode.INVALID_ARGUMENT
    assert "the image is 24x16 pixels" in refused.value.details()
    requests = [
        pb.InspectRequest(product_id=taught.product_id, frame_id=frame_id, image=encoded(frame))
        for frame_id, frame in enumerate([surfaces[4], tiny, surfaces[4]])
    ]
    responses = list(stub.InspectStream(iter(requests)))
    assert [response.error.code for response in responses] == [0, StatusCode.INVALID_ARGUMENT.value[0], 0]
    assert "24x16" in responses[1].error.message and "32x32" in responses[1].error.message


def assert_not_stored(stub, product_id: str) -> None:
    with pytest.raises(RpcError) as missing:
        stub.GetProduct(pb.GetProductRequest(product_id=product_id))
    assert missing.value.code() == StatusCode.NOT_FOUND
