"""Teach, GetProduct, ListProducts, UpdateProduct, DeleteProduct and GetServerInfo."""

import grpc
import numpy as np
import pytest
from patchcore_client.synthetic import defective_part
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import BROKEN_PRODUCT, FOREIGN_PRODUCT, MAX_MESSAGE_BYTES, PRODUCT, encoded, teach_request


def test_teach_returns_the_first_version_with_its_statistics(taught):
    assert taught.product_id == PRODUCT
    assert taught.version == 1
    assert taught.usable
    assert taught.threshold > 0
    assert taught.options.threshold == taught.threshold
    stats = taught.teach_stats
    assert stats.image_count == 8
    assert 0 < stats.bank_size < stats.patch_count
    assert len(stats.leave_one_out_scores) == 8
    assert taught.threshold == pytest.approx(1.5 * max(stats.leave_one_out_scores), rel=1e-5)


def test_get_product_describes_the_taught_version(stub, taught):
    product = stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT))
    assert product.version >= taught.version
    assert product.model_fingerprint == stub.GetServerInfo(pb.GetServerInfoRequest()).model.fingerprint


def test_list_shows_unusable_products_with_the_reason(stub, taught):
    products = {p.product_id: p for p in stub.ListProducts(pb.ListProductsRequest()).products}
    assert products[PRODUCT].usable
    assert not products[FOREIGN_PRODUCT].usable
    assert "another model" in products[FOREIGN_PRODUCT].status_message
    assert not products[BROKEN_PRODUCT].usable
    assert products[BROKEN_PRODUCT].status_message


def test_update_threshold_makes_a_new_version_used_for_verdicts(stub):
    stub.Teach(teach_request("to-update", seed=11))
    defect = encoded(defective_part(np.random.default_rng(12), "spot"))
    before = stub.Inspect(pb.InspectRequest(product_id="to-update", image=defect))
    assert before.anomalous

    request = pb.UpdateProductRequest(
        product_id="to-update", options=pb.ProductOptions(threshold=1.9), update_fields=["threshold"]
    )
    updated = stub.UpdateProduct(request)

    assert (updated.version, updated.threshold) == (before.product_version + 1, pytest.approx(1.9))
    assert updated.teach_stats.bank_size > 0  # the bank is kept
    after = stub.Inspect(pb.InspectRequest(product_id="to-update", image=defect))
    assert (after.anomalous, after.product_version) == (False, updated.version)
    assert after.score == pytest.approx(before.score, abs=1e-5)


def options_of(product: pb.Product) -> tuple[float, int, int]:
    return product.options.threshold, product.options.top_k, product.options.min_region_area


def test_update_without_update_fields_changes_the_options_that_are_set(stub):
    taught = stub.Teach(teach_request("partial-update", seed=16))
    threshold, top_k, _ = options_of(taught)

    def update(options: pb.ProductOptions, fields: tuple[str, ...] = ()) -> pb.Product:
        return stub.UpdateProduct(
            pb.UpdateProductRequest(product_id="partial-update", options=options, update_fields=fields)
        )

    assert options_of(update(pb.ProductOptions(threshold=0.5))) == (0.5, top_k, 0)
    assert options_of(update(pb.ProductOptions(min_region_area=40, top_k=3))) == (0.5, 3, 40)
    assert options_of(update(pb.ProductOptions(threshold=0.25, min_region_area=0))) == (0.25, 3, 40)
    # A 0 is set only where update_fields names it.
    assert options_of(update(pb.ProductOptions(), ("min_region_area",))) == (0.25, 3, 0)
    final = update(pb.ProductOptions(threshold=threshold, top_k=9), ("threshold",))
    assert options_of(final) == (pytest.approx(threshold), 3, 0)
    assert final.version == taught.version + 5


def test_reteach_makes_a_new_version(stub):
    first = stub.Teach(teach_request("reteach", seed=13))
    second = stub.Teach(teach_request("reteach", seed=14))
    assert second.version == first.version + 1


def test_delete_removes_the_product(stub):
    taught = stub.Teach(teach_request("to-delete", seed=15))
    deleted = stub.DeleteProduct(pb.DeleteProductRequest(product_id="to-delete"))
    assert (deleted.product_id, deleted.deleted_version) == ("to-delete", taught.version)
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetProduct(pb.GetProductRequest(product_id="to-delete"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_server_info_describes_the_model_and_limits(stub):
    info = stub.GetServerInfo(pb.GetServerInfoRequest())
    assert info.model.backbone == "efficientnet_lite0"
    assert info.model.input_size == 224
    assert info.model.feature_dim > 0 and info.model.grid_height > 0
    assert info.model.metadata["backbone"] == "efficientnet_lite0"
    assert info.max_batch_size == 1
    assert info.max_image_pixels == 50_000_000
    assert info.max_message_bytes == MAX_MESSAGE_BYTES
    assert info.version
    assert not info.fleet.enabled and not info.fleet.connected and info.fleet.url == ""


def test_teach_refuses_a_threshold_scale_that_puts_the_threshold_above_the_largest_distance(stub):
    # A cosine distance is at most 2: a threshold above it would pass every frame, defects included.
    request = teach_request("overscaled", seed=16)
    request.options.threshold_scale = 1000.0
    with pytest.raises(grpc.RpcError) as raised:
        stub.Teach(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "threshold_scale" in raised.value.details()
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetProduct(pb.GetProductRequest(product_id="overscaled"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert stub.Teach(teach_request("overscaled", seed=16)).threshold <= 2.0
