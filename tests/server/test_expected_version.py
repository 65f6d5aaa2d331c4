"""Optimistic concurrency: every change that takes an expected_version is ABORTED, naming the current
version, when the product is at another one, and then nothing changes."""

import itertools

import grpc
import numpy as np
import pytest
from patchcore_client.synthetic import good_part
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import encoded, teach_request


def teach(product_id: str, expected_version: int = 0) -> pb.TeachRequest:
    request = teach_request(product_id, seed=31, count=2)
    request.expected_version = expected_version
    return request


# One change per call that takes an expected_version: (method name, request for product_id at version).
CHANGES = {
    "Teach": lambda product_id, version: teach(product_id, version),
    "AddImages": lambda product_id, version: pb.AddImagesRequest(
        product_id=product_id,
        images=[encoded(good_part(np.random.default_rng(32)))],
        expected_version=version,
    ),
    "UpdateProduct": lambda product_id, version: pb.UpdateProductRequest(
        product_id=product_id,
        options=pb.ProductOptions(threshold=0.9),
        update_fields=["threshold"],
        expected_version=version,
    ),
    "DeleteProduct": lambda product_id, version: pb.DeleteProductRequest(
        product_id=product_id, expected_version=version
    ),
}


_product_ids = (f"cas-{number}" for number in itertools.count())


@pytest.fixture
def at_version_2(stub) -> pb.Product:
    """A product of this test's own, taught twice: at version 2."""
    product_id = next(_product_ids)
    stub.Teach(teach(product_id))
    return stub.Teach(teach(product_id))


@pytest.mark.parametrize("stale", [1, 3])
@pytest.mark.parametrize("method", CHANGES)
def test_a_stale_expected_version_is_aborted_naming_the_current_one(stub, at_version_2, method, stale):
    product_id = at_version_2.product_id
    with pytest.raises(grpc.RpcError) as raised:
        getattr(stub, method)(CHANGES[method](product_id, stale))
    assert raised.value.code() == grpc.StatusCode.ABORTED
    assert "is at version 2" in raised.value.details()
    assert f"expected version {stale}" in raised.value.details()
    after = stub.GetProduct(pb.GetProductRequest(product_id=product_id))
    assert (after.version, after.threshold) == (2, at_version_2.threshold)


@pytest.mark.parametrize("expected", [0, 2])
@pytest.mark.parametrize("method", CHANGES)
def test_the_current_version_or_zero_lets_each_change_through(stub, at_version_2, method, expected):
    getattr(stub, method)(CHANGES[method](at_version_2.product_id, expected))


def test_teaching_a_product_that_is_not_stored_expecting_a_version_is_aborted(stub):
    with pytest.raises(grpc.RpcError) as raised:
        stub.Teach(teach("cas-gone", expected_version=1))
    assert raised.value.code() == grpc.StatusCode.ABORTED
    assert "'cas-gone' is not stored" in raised.value.details()
    assert "changed meanwhile" not in raised.value.details()  # it never was: it was never taught
    with pytest.raises(grpc.RpcError) as lookup:
        stub.GetProduct(pb.GetProductRequest(product_id="cas-gone"))
    assert lookup.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("method", ["AddImages", "UpdateProduct", "DeleteProduct"])
def test_a_product_deleted_and_taught_again_is_not_taken_for_the_one_before(stub, method):
    """A station that read version 1 of the old product must not change the new one taught under its id."""
    product_id = next(_product_ids)
    assert stub.Teach(teach(product_id)).version == 1
    stub.DeleteProduct(pb.DeleteProductRequest(product_id=product_id))
    taught_again = stub.Teach(teach(product_id))
    assert taught_again.version == 2
    with pytest.raises(grpc.RpcError) as refused:
        getattr(stub, method)(CHANGES[method](product_id, 1))
    assert refused.value.code() == grpc.StatusCode.ABORTED
    assert stub.GetProduct(pb.GetProductRequest(product_id=product_id)).version == 2
