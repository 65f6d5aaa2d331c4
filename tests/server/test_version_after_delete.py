"""The version of a product deleted and taught again under its id: what the contract says and what happens."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import teach_request

CONTRACT = Path(__file__).resolve().parents[2] / "protos" / "patchcore" / "edge" / "v1" / "inspection.proto"


def product_version_comment() -> str:
    """The comment lines above Product.version, joined."""
    product = CONTRACT.read_text().split("message Product {", 1)[1]
    lines = product.split("uint64 version = 2;", 1)[0].splitlines()[:-1]  # [-1]: the field's indent
    comment = []
    for line in reversed(lines):
        if not line.strip().startswith("//"):
            break
        comment.insert(0, line.strip().removeprefix("//").strip())
    return " ".join(comment)


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
