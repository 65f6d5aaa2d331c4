"""InspectionClient against the real server: numpy in, decoded heatmaps out, errors as grpc.RpcError."""

import grpc
import numpy as np
import pytest
from patchcore_client import InspectionClient
from patchcore_client.synthetic import defective_part, good_part

PRODUCT = "client-part"


@pytest.fixture(scope="module")
def product(client):
    rng = np.random.default_rng(31)
    return client.teach(PRODUCT, [good_part(rng) for _ in range(8)], threshold_scale=1.5)


def test_teach_from_arrays_returns_the_product(product, client):
    assert (product.product_id, product.version, product.usable) == (PRODUCT, 1, True)
    assert PRODUCT in {p.product_id for p in client.list_products()}
    assert client.get_product(PRODUCT).threshold == product.threshold


def test_inspect_decodes_a_float32_heatmap_at_the_frame_size(client, product):
    frame = defective_part(np.random.default_rng(32), "spot")[:, :200].copy()
    result = client.inspect(PRODUCT, frame, frame_id=42, heatmap="float32")
    assert result.frame_id == 42
    assert result.verdict == "anomalous"
    assert result.heatmap.shape == (256, 200) and result.heatmap.dtype == np.float32
    assert result.regions and result.overlay_png is None


def test_inspect_returns_a_png_overlay_when_asked(client, product):
    result = client.inspect(PRODUCT, good_part(np.random.default_rng(33)), heatmap="png")
    assert result.verdict == "good"
    assert result.overlay_png.startswith(b"\x89PNG")
    assert result.heatmap is None


def test_bgr_client_sends_arrays_as_bgr(client_server, client, product):
    rgb = defective_part(np.random.default_rng(34), "spot")  # a colour defect: channel order matters
    with InspectionClient(client_server.target, channel_order="bgr") as bgr_client:
        from_bgr = bgr_client.inspect(PRODUCT, np.ascontiguousarray(rgb[:, :, ::-1]))
        swapped = bgr_client.inspect(PRODUCT, rgb)
    from_rgb = client.inspect(PRODUCT, rgb)
    assert from_bgr.score == pytest.approx(from_rgb.score, abs=1e-5)
    assert swapped.score != pytest.approx(from_rgb.score, abs=1e-5)


def test_stream_yields_results_in_order_with_errors_in_place(client, product):
    rng = np.random.default_rng(35)
    frames = [(10, good_part(rng)), (11, b"not an image"), (12, defective_part(rng, "scratch"))]
    results = list(client.inspect_stream(PRODUCT, frames))
    assert [r.frame_id for r in results] == [10, 11, 12]
    assert [r.verdict for r in results] == ["good", "error", "anomalous"]
    assert results[1].error.code == grpc.StatusCode.INVALID_ARGUMENT


def test_call_errors_raise_rpc_error_with_the_code(client):
    with pytest.raises(grpc.RpcError) as raised:
        client.inspect("never-taught", good_part(np.random.default_rng(36)))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_update_and_delete(client):
    rng = np.random.default_rng(37)
    client.teach("short-lived", [good_part(rng) for _ in range(4)])
    updated = client.update_product("short-lived", threshold=0.5, min_region_area=20)
    assert (updated.version, updated.threshold, updated.options.min_region_area) == (
        2,
        pytest.approx(0.5),
        20,
    )
    assert client.delete_product("short-lived") == 2
    assert "short-lived" not in {p.product_id for p in client.list_products()}


def test_add_images_and_expected_versions(client):
    rng = np.random.default_rng(39)
    taught = client.teach("growing", [good_part(rng) for _ in range(3)])
    grown = client.add_images("growing", [good_part(rng)], expected_version=taught.version)
    assert (grown.version, grown.teach_stats.image_count) == (taught.version + 1, 4)
    stale = [
        lambda: client.add_images("growing", [good_part(rng)], expected_version=taught.version),
        lambda: client.teach("growing", [good_part(rng)] * 2, expected_version=taught.version),
        lambda: client.update_product("growing", threshold=0.5, expected_version=taught.version),
        lambda: client.delete_product("growing", expected_version=taught.version),
    ]
    for call in stale:
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() == grpc.StatusCode.ABORTED
    assert client.delete_product("growing", expected_version=grown.version) == grown.version


def test_server_info_names_the_model(client):
    assert client.server_info().model.backbone == "efficientnet_lite0"


def test_contrast_stretch_taught_over_grpc_is_applied_to_inspected_frames(client):
    """A taught part at lower gain and a raised offset scores near zero only when the product stretches
    (no line views: the bank then holds every patch of the taught parts)."""
    rng = np.random.default_rng(38)
    parts = [good_part(rng) for _ in range(3)]
    darker = (parts[1].astype(np.float32) * 0.5 + 40).astype(np.uint8)
    scores = {}
    for stretch in (False, True):
        product_id = f"exposure-{str(stretch).lower()}"
        client.teach(product_id, parts, coreset_ratio=1.0, contrast_stretch=stretch, line_views=0)
        scores[stretch] = client.inspect(product_id, darker).score
        client.delete_product(product_id)
    assert scores[True] < 0.01
    assert scores[False] > 0.03
