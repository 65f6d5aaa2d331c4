"""A server that freezes mid-stream (stopped, a hung machine, a cable pulled without a reset): the client's
keepalive pings go unanswered and its stream ends with UNAVAILABLE instead of waiting for ever; the server
allows pings that often, so a working stream is never cut for them."""

from __future__ import annotations

import os
import signal
import threading

import grpc
import numpy as np
from patchcore_client import InspectionClient
from reliability_support import start_server

PRODUCT = "frozen"


def test_a_stream_to_a_server_that_froze_ends_with_unavailable(tiny_model, tmp_path):
    rng = np.random.default_rng(0)
    with (
        start_server(tiny_model, tmp_path / "store", tmp_path) as server,
        InspectionClient(server.target) as client,
    ):
        client.teach(PRODUCT, [rng.integers(0, 256, (32, 32, 3), np.uint8) for _ in range(4)])
        first_answered = threading.Event()
        ended: list[BaseException] = []

        def frames():
            yield 0, rng.integers(0, 256, (32, 32, 3), np.uint8)
            first_answered.wait(60)
            os.kill(server.process.pid, signal.SIGSTOP)
            yield 1, rng.integers(0, 256, (32, 32, 3), np.uint8)

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


def test_a_stream_quiet_for_many_keepalive_pings_is_not_sent_away(tiny_model, tmp_path):
    """The client pings every 10 s while a call is open and nothing moves (a long Teach, a quiet stream);
    the server must take that from every client, timer jitter included, or it answers with GOAWAY
    "too_many_pings" after a few and the call ends with UNAVAILABLE (a Teach of minutes could never land).
    Quiet for 65 s: six pings, where the third strike came at 50-56 s."""
    rng = np.random.default_rng(1)
    with (
        start_server(tiny_model, tmp_path / "store", tmp_path) as server,
        InspectionClient(server.target) as client,
    ):
        client.teach(PRODUCT, [rng.integers(0, 256, (32, 32, 3), np.uint8) for _ in range(4)])
        first_answered = threading.Event()

        def frames():
            yield 0, rng.integers(0, 256, (32, 32, 3), np.uint8)
            first_answered.wait(60)
            threading.Event().wait(65)  # the quiet the keepalive pings cover: nothing to wait for but time
            yield 1, rng.integers(0, 256, (32, 32, 3), np.uint8)

        answered = []
        for result in client.inspect_stream(PRODUCT, frames()):
            answered.append(result)
            first_answered.set()
    assert len(answered) == 2
