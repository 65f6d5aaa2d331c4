"""A server that freezes mid-stream (stopped, a hung machine, a cable pulled without a reset): the client's
keepalive pings go unanswered and its stream ends with UNAVAILABLE instead of waiting for ever; the server
allows pings that often, so a working stream is never cut for them."""

from __future__ import annotations

import os
import signal
import threading

import grpc
import numpy as np
import pytest
from patchcore_client import InspectionClient
from reliability_support import start_server

PRODUCT = "frozen"


def a_frame(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (32, 32, 3), np.uint8)


@pytest.fixture
def taught(tiny_model, tmp_path):
    """A server, a client of it and PRODUCT taught, with the generator of the frames."""
    rng = np.random.default_rng(0)
    with (
        start_server(tiny_model, tmp_path / "store", tmp_path) as server,
        InspectionClient(server.target) as client,
    ):
        client.teach(PRODUCT, [a_frame(rng) for _ in range(4)])
        yield server, client, rng


def test_a_stream_to_a_server_that_froze_ends_with_unavailable(taught):
    server, client, rng = taught
    first_answered = threading.Event()
    ended: list[BaseException] = []

    def frames():
        yield 0, a_frame(rng)
        first_answered.wait(60)
        os.kill(server.process.pid, signal.SIGSTOP)
        yield 1, a_frame(rng)

    def stream() -> None:
        try:
            for _ in client.inspect_stream(PRODUCT, frames()):
                first_answered.set()
        except grpc.RpcError as error:
            ended.append(error)

    streaming = threading.Thread(target=stream, daemon=True)
    streaming.start()
    try:
        streaming.join(180)  # keepalive pings: measured 60 s from the freeze to UNAVAILABLE
        assert not streaming.is_alive(), "the stream still waits on a frozen server"
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert [error.code() for error in ended] == [grpc.StatusCode.UNAVAILABLE]


def test_a_stream_quiet_for_many_keepalive_pings_is_not_sent_away(taught):
    """The client pings every 10 s while a call is open and nothing moves (a long Teach, a quiet stream);
    a server that does not allow that answers the third such ping with GOAWAY "too_many_pings" and the call
    ends with UNAVAILABLE (it did at 33 s while the server's allowance was set under a name gRPC ignores).
    Quiet for 65 s: six pings."""
    _, client, rng = taught
    first_answered = threading.Event()

    def frames():
        yield 0, a_frame(rng)
        first_answered.wait(60)
        threading.Event().wait(65)  # the quiet the keepalive pings cover: nothing to wait for but time
        yield 1, a_frame(rng)

    answered = []
    for result in client.inspect_stream(PRODUCT, frames()):
        answered.append(result)
        first_answered.set()
    assert len(answered) == 2
