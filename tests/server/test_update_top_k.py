"""UpdateProduct naming top_k with 0: what the contract says and what happens."""

from __future__ import annotations

import grpc
import pytest
from contract_text import CONTRACT, comment_above
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import teach_request


def test_the_contract_says_top_k_is_at_least_1_and_0_is_refused():
    options = CONTRACT.read_text().split("message ProductOptions {", 1)[1]
    comment = comment_above(options, "uint32 top_k = 2;")
    assert "At least 1: UpdateProduct naming top_k with 0 gets INVALID_ARGUMENT" in comment, comment


def test_update_naming_top_k_with_0_is_refused_and_the_product_keeps_its_version(stub):
    taught = stub.Teach(teach_request("top-k-zero", seed=41, count=3))
    request = pb.UpdateProductRequest(
        product_id="top-k-zero", options=pb.ProductOptions(top_k=0), update_fields=["top_k"]
    )
    with pytest.raises(grpc.RpcError) as raised:
        stub.UpdateProduct(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "top_k" in raised.value.details()
    product = stub.GetProduct(pb.GetProductRequest(product_id="top-k-zero"))
    assert (product.version, product.options.top_k) == (taught.version, 1)
