"""The smallest teach set the contract documents for TeachRequest.images is the one the server takes."""

from __future__ import annotations

import re

import grpc
import pytest
from contract_text import CONTRACT
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import teach_request


def documented_minimum() -> int:
    """N of "Images of good parts, N or more" in the comment on TeachRequest.images."""
    message = CONTRACT.read_text().split("message TeachRequest {", 1)[1].split("\n}", 1)[0]
    found = re.search(r"Images of good parts, (\d+) or more", message)
    assert found, "TeachRequest.images' comment no longer states how many images a Teach needs"
    return int(found.group(1))


def test_teach_takes_the_documented_minimum_and_refuses_one_fewer(stub):
    minimum = documented_minimum()
    taught = stub.Teach(teach_request("fewest", seed=21, count=minimum))
    assert taught.teach_stats.image_count == minimum
    with pytest.raises(grpc.RpcError) as raised:
        stub.Teach(teach_request("too-few", seed=22, count=minimum - 1))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetProduct(pb.GetProductRequest(product_id="too-few"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
