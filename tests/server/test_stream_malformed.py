"""A request in InspectStream that is not a valid InspectRequest: what the contract says and what happens."""

from __future__ import annotations

import re

import grpc
import numpy as np
import pytest
from contract_text import CONTRACT, comment_above
from patchcore_client.synthetic import good_part
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import PRODUCT, encoded

NOT_A_MESSAGE = b"\x0a\xff\xff\xff"  # field 1 (product_id), a length it does not have: bad wire format


def inspect_stream_comment() -> str:
    """The comment lines above `rpc InspectStream`, joined."""
    return comment_above(CONTRACT.read_text(), "rpc InspectStream(")


def test_the_contract_says_what_a_malformed_request_does_to_the_stream():
    comment = inspect_stream_comment()
    assert re.search(r"not a valid InspectRequest.*frames before it are answered", comment), comment
    assert re.search(r"ends with status INVALID_ARGUMENT", comment), comment


def test_a_malformed_request_ends_the_stream_after_the_frames_before_it(channel, taught):
    frame = encoded(good_part(np.random.default_rng(3)))
    good, after = [
        [pb.InspectRequest(product_id=PRODUCT, frame_id=i, image=frame).SerializeToString() for i in ids]
        for ids in ((1, 2), (3,))
    ]
    call = channel.stream_stream(
        "/patchcore.edge.v1.InspectionService/InspectStream",
        request_serializer=lambda data: data,
        response_deserializer=pb.InspectResponse.FromString,
    )(iter([*good, NOT_A_MESSAGE, *after]), timeout=60)
    answered = []
    with pytest.raises(grpc.RpcError) as raised:
        for response in call:
            answered.append(response.frame_id)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid protobuf message" in raised.value.details()
    assert answered == [1, 2]
