"""SIGTERM under live streams: health NOT_SERVING, new calls UNAVAILABLE, frames in flight answered, exit 0.

Also what used to hang a drain: streams the clients cancel, and a stream still open when the grace runs out.
"""

import queue
import signal
import threading
import time

import grpc
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import (
    NOT_SERVING,
    inspect_request,
    start_server,
    status_code,
    stub_for,
    wait_for_health,
)
from reliability_support import teach_request as make_teach_request

PRODUCT = "drained"
FRAMES = 200
WINDOW = 16


def taught_server(tiny_model, folder, *args):
    server = start_server(tiny_model, folder / "store", folder, *args)
    with grpc.insecure_channel(server.target) as channel:
        stub_for(channel).Teach(make_teach_request(PRODUCT, seed=1))
    return server


@pytest.fixture(scope="module")
def drained(tiny_model, tmp_path_factory):
    """A stream with frames in flight when SIGTERM arrives; what health and a new call said meanwhile."""
    server = taught_server(tiny_model, tmp_path_factory.mktemp("drain"), "--stream-window", str(WINDOW))
    seen = {}
    sent_half, release = threading.Event(), threading.Event()

    def frames():
        for frame_id in range(FRAMES):
            if frame_id == FRAMES // 2:
                sent_half.set()
                release.wait(60)
            yield inspect_request(PRODUCT, frame_id=frame_id, seed=frame_id)

    try:
        with grpc.insecure_channel(server.target) as channel, grpc.insecure_channel(server.target) as other:
            responses = stub_for(channel).InspectStream(frames(), timeout=120)
            sent_half.wait(60)  # nothing is read from `responses` yet: answers back up, frames wait in flight
            server.process.send_signal(signal.SIGTERM)
            wait_for_health(other, NOT_SERVING)
            seen["new_call"] = status_code(
                stub_for(other).GetServerInfo, pb.GetServerInfoRequest(), timeout=10
            )
            release.set()
            seen["responses"] = list(responses)
        seen["exit_code"] = server.process.wait(60)
    finally:
        server.stop()
    return seen


def test_new_calls_are_unavailable_while_draining(drained):
    assert drained["new_call"] == grpc.StatusCode.UNAVAILABLE


def test_every_frame_of_the_stream_is_answered_in_order(drained):
    assert [response.frame_id for response in drained["responses"]] == list(range(FRAMES))


def test_frames_in_flight_are_scored_and_later_ones_refused(drained):
    codes = [response.error.code for response in drained["responses"]]
    scored = codes.index(grpc.StatusCode.UNAVAILABLE.value[0])
    assert set(codes[:scored]) == {0}
    assert set(codes[scored:]) == {grpc.StatusCode.UNAVAILABLE.value[0]}
    assert scored >= WINDOW  # at least the window the server had read before SIGTERM


def test_drained_server_exits_0(drained):
    assert drained["exit_code"] == 0


def test_a_stream_open_past_the_grace_is_cut_and_the_server_still_exits_0(tiny_model, tmp_path):
    server = taught_server(tiny_model, tmp_path, "--grace-seconds", "1")
    requests: queue.Queue = queue.Queue()
    with grpc.insecure_channel(server.target) as channel:
        responses = stub_for(channel).InspectStream(iter(requests.get, None), timeout=120)
        requests.put(inspect_request(PRODUCT))
        assert not next(responses).HasField("error")
        server.process.send_signal(
            signal.SIGTERM
        )  # the client neither sends nor closes: only the grace ends it
        assert server.process.wait(60) == 0
        with pytest.raises(grpc.RpcError):
            next(responses)
        requests.put(None)


def answered_then_cancelled(stub, frame_id: int) -> bool:
    """Opens a stream, gets one frame answered, cancels; False when the server had no thread free."""
    requests: queue.Queue = queue.Queue()
    call = stub.InspectStream(iter(requests.get, None), timeout=60)
    requests.put(inspect_request(PRODUCT, frame_id=frame_id))
    try:
        answered = next(call).frame_id == frame_id
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # all 4 threads busy: try again shortly
        answered = False
    call.cancel()
    requests.put(None)
    return answered


def test_cancelled_streams_free_their_threads(tiny_model, tmp_path):
    """With 4 gRPC threads, 20 cancelled streams that each kept a thread would leave none for new calls.

    A cancelled stream's thread is freed within its poll interval, so an attempt may briefly find all four
    busy; one that never frees them makes the retries run out.
    """
    server = taught_server(tiny_model, tmp_path, "--grpc-threads", "4")
    with grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        for frame_id in range(20):
            assert any(answered_then_cancelled(stub, frame_id) or time.sleep(0.2) for _ in range(50))
        assert status_code(stub.GetServerInfo, pb.GetServerInfoRequest(), timeout=20) == grpc.StatusCode.OK
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0
