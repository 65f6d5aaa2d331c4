"""AddImages: a good frame the product flagged is taught to it; versions, counts and errors.

The flagged frame is a good part lying 40 px off-centre on the conveyor: the 8 taught parts lie within 3 px
of the centre (and the line views move them by a few pixels more), so the product flags it, while planted
defects still score well above it (README, "Learning from a false alarm").
"""

import cv2
import grpc
import numpy as np
import pytest
from patchcore_client.synthetic import defective_part, good_part
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import FOREIGN_PRODUCT, encoded, teach_request

LEARNER = "learner"


def off_centre(rng: np.random.Generator) -> np.ndarray:
    """A good part shifted 40 px to the right."""
    shift = np.float32([[1, 0, 40], [0, 1, 0]])
    return cv2.warpAffine(good_part(rng), shift, (256, 256), borderMode=cv2.BORDER_REFLECT)


def raw(rgb: np.ndarray) -> pb.Image:
    height, width = rgb.shape[:2]
    return pb.Image(
        raw=pb.RawImage(width=width, height=height, format=pb.PIXEL_FORMAT_RGB8, pixels=rgb.tobytes())
    )


def inspect(stub, product_id: str, image: pb.Image) -> pb.InspectResponse:
    return stub.Inspect(pb.InspectRequest(product_id=product_id, image=image))


@pytest.fixture(scope="module")
def learned(stub) -> dict:
    """LEARNER taught 8 good parts (threshold_scale 1.1), then the off-centre part it flagged added."""
    teach = teach_request(LEARNER, seed=21)
    teach.options.threshold_scale = 1.1
    taught = stub.Teach(teach)
    flagged = encoded(off_centre(np.random.default_rng(22)))
    before = inspect(stub, LEARNER, flagged)
    added = stub.AddImages(
        pb.AddImagesRequest(product_id=LEARNER, images=[flagged], expected_version=taught.version)
    )
    return {"teach": teach, "taught": taught, "flagged": flagged, "before": before, "added": added}


def test_a_flagged_good_frame_passes_once_added(stub, learned):
    assert learned["before"].anomalous
    after = inspect(stub, LEARNER, learned["flagged"])
    assert not after.anomalous
    assert after.product_version == learned["added"].version


def test_other_parts_like_it_pass_and_defects_are_still_caught(stub, learned):
    rng = np.random.default_rng(23)
    assert not inspect(stub, LEARNER, encoded(off_centre(rng))).anomalous
    for kind in ("scratch", "spot"):
        assert inspect(stub, LEARNER, encoded(defective_part(rng, kind))).anomalous


def test_added_images_make_one_new_version_taught_from_every_image(learned):
    taught, added = learned["taught"], learned["added"]
    assert added.version == taught.version + 1
    assert added.teach_stats.image_count == 9
    assert len(added.teach_stats.leave_one_out_scores) == 9
    assert added.threshold == pytest.approx(1.1 * max(added.teach_stats.leave_one_out_scores), rel=1e-5)
    assert added.threshold > taught.threshold


def test_adding_raw_frames_equals_teaching_every_image_at_once(stub, learned):
    """Raw frames are stored as PNG: teaching from them again later sees the same pixels."""
    rng = np.random.default_rng(24)
    frames = [raw(off_centre(rng)) for _ in range(2)]
    grown = stub.AddImages(pb.AddImagesRequest(product_id=LEARNER, images=frames))
    assert (grown.version, grown.teach_stats.image_count) == (learned["added"].version + 1, 11)

    at_once = pb.TeachRequest()
    at_once.CopyFrom(learned["teach"])
    at_once.product_id = "learner-at-once"
    at_once.images.extend([learned["flagged"], *frames])
    whole = stub.Teach(at_once)
    assert list(grown.teach_stats.leave_one_out_scores) == pytest.approx(
        list(whole.teach_stats.leave_one_out_scores), rel=1e-5
    )
    assert grown.threshold == pytest.approx(whole.threshold, rel=1e-5)


def test_the_operators_min_region_area_is_kept(stub):
    stub.Teach(teach_request("kept-area", seed=25, count=3))
    updated = stub.UpdateProduct(
        pb.UpdateProductRequest(
            product_id="kept-area",
            options=pb.ProductOptions(min_region_area=40),
            update_fields=["min_region_area"],
        )
    )
    image = encoded(good_part(np.random.default_rng(26)))
    added = stub.AddImages(pb.AddImagesRequest(product_id="kept-area", images=[image]))
    assert added.options.min_region_area == updated.options.min_region_area == 40


def status(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call(request)
    return raised.value.code(), raised.value.details()


def test_add_images_refuses_with_the_reason_and_changes_nothing(stub, learned):
    current = stub.GetProduct(pb.GetProductRequest(product_id=LEARNER)).version
    undecodable = pb.Image(encoded=b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    good = learned["flagged"]
    cases = [
        (LEARNER, [], grpc.StatusCode.INVALID_ARGUMENT, "no images"),
        (LEARNER, [good, undecodable], grpc.StatusCode.INVALID_ARGUMENT, "added image 2"),
        ("never-taught", [good], grpc.StatusCode.NOT_FOUND, "never-taught"),
        (FOREIGN_PRODUCT, [good], grpc.StatusCode.FAILED_PRECONDITION, "before teach images were kept"),
    ]
    for product_id, images, code, reason in cases:
        request = pb.AddImagesRequest(product_id=product_id, images=images)
        got_code, details = status(stub.AddImages, request)
        assert (got_code, reason in details) == (code, True), details
    assert stub.GetProduct(pb.GetProductRequest(product_id=LEARNER)).version == current
