"""Alignment over gRPC: a part that sits off and turned in its fixture is turned back before inspection, and
its verdict lands in the pixels of the frame as it came."""

import cv2
import numpy as np
import pytest
from grpc import RpcError, StatusCode
from patchcore_client.synthetic import machined_surface
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import encoded, teach_frames, with_pit

PRODUCT = "loose-fixture"
ROI = pb.Rect(x=40, y=40, width=560, height=400)  # inside the part however the fixture holds it
PIT_ON_PART = (420, 150)  # x, y on the part as taught


def placed(part: np.ndarray, angle: float, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """part turned by angle degrees about its centre and shifted, and the [2, 3] matrix of that move."""
    height, width = part.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    matrix[:, 2] += shift
    return cv2.warpAffine(part, matrix, (width, height), borderMode=cv2.BORDER_REFLECT), matrix


@pytest.fixture(scope="module")
def part() -> np.ndarray:
    return machined_surface(np.random.default_rng(21), 480, 640)


@pytest.fixture(scope="module")
def product(stub, part) -> pb.Product:
    rng = np.random.default_rng(22)
    held = [placed(part, rng.uniform(-0.5, 0.5), rng.uniform(-1, 1, 2))[0] for _ in range(6)]
    return teach_frames(stub, PRODUCT, held, align=True, roi=ROI, line_views=0)


def inspect(stub, frame: np.ndarray, heatmap: int = pb.HEATMAP_FORMAT_NONE) -> pb.InspectResponse:
    return stub.Inspect(pb.InspectRequest(product_id=PRODUCT, image=encoded(frame), heatmap=heatmap))


def test_the_product_shows_that_it_aligns(stub, product):
    assert product.teach_options.align
    assert stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT)).teach_options.align


def test_a_pit_on_a_moved_part_is_reported_where_it_is_in_the_frame(stub, product, part):
    moved, matrix = placed(with_pit(part, PIT_ON_PART, 8), angle=4.0, shift=(9.0, -6.0))
    x, y = matrix @ [*PIT_ON_PART, 1]
    response = inspect(stub, moved, pb.HEATMAP_FORMAT_FLOAT32)
    assert response.anomalous
    assert any(r.x <= x < r.x + r.width and r.y <= y < r.y + r.height for r in response.regions)
    heatmap = np.frombuffer(response.heatmap.float32, dtype="<f4").reshape(480, 640)
    peak_y, peak_x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert abs(peak_x - x) < 12 and abs(peak_y - y) < 12


def test_the_moved_part_without_the_pit_is_good(stub, product, part):
    moved, _ = placed(part, angle=4.0, shift=(9.0, -6.0))
    assert not inspect(stub, moved).anomalous


def test_a_frame_of_another_size_is_invalid_and_the_server_goes_on(stub, product, part):
    with pytest.raises(RpcError) as failure:
        inspect(stub, part[:400, :600])
    assert failure.value.code() == StatusCode.INVALID_ARGUMENT
    assert "640x480 teach frames" in failure.value.details()
    assert not inspect(stub, part).anomalous


def test_images_added_later_are_aligned_to_the_first_teach_image(stub, product, part):
    """AddImages rebuilds from the stored images and the new ones: all still aligned to the first image, so
    a moved pit is still found where it is."""
    more, _ = placed(part, angle=-3.0, shift=(-7.0, 5.0))
    grown = stub.AddImages(pb.AddImagesRequest(product_id=PRODUCT, images=[encoded(more)]))
    assert grown.version == product.version + 1 and grown.teach_options.align
    moved, matrix = placed(with_pit(part, PIT_ON_PART, 8), angle=-4.0, shift=(-8.0, 7.0))
    x, y = matrix @ [*PIT_ON_PART, 1]
    response = inspect(stub, moved)
    assert response.anomalous
    assert any(r.x <= x < r.x + r.width and r.y <= y < r.y + r.height for r in response.regions)
