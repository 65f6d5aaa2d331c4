"""The version of a product deleted and taught again under its id: what the contract says and what happens."""

from __future__ import annotations

import re

import grpc
import pytest
from contract_text import CONTRACT, comment_above
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import teach_request


def product_version_comment() -> str:
    """The comment lines above Product.version, joined."""
    product = CONTRACT.read_text().split("message Product {", 1)[1]
    return comment_above(product, "uint64 version = 2;")


def test_the_contract_says_a_product_taught_again_after_a_delete_goes_on_from_its_last_version():
    comment = product_version_comment()
    stated = r"deleted and taught again .* goes on from the deleted one's last version"
    assert re.search(stated, comment), comment


def test_a_product_taught_again_after_a_delete_goes_on_from_its_last_version(stub):
    first = stub.Teach(teach_request("comeback", seed=31, count=3))
    deleted = stub.DeleteProduct(pb.DeleteProductRequest(product_id="comeback"))
    again = stub.Teach(teach_request("comeback", seed=32, count=3))
    assert again.version == deleted.deleted_version + 1 == first.version + 1
    with pytest.raises(grpc.RpcError) as raised:  # a station holding the old product's version 1
        options = pb.ProductOptions(threshold=0.5)
        stub.UpdateProduct(
            pb.UpdateProductRequest(product_id="comeback", options=options, expected_version=first.version)
        )
    assert raised.value.code() == grpc.StatusCode.ABORTED
