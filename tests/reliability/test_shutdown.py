"""SIGTERM under live streams: health NOT_SERVING, new calls UNAVAILABLE, frames in flight answered, exit 0.

Also what used to hang a drain: streams the clients cancel, and a stream still open when the grace runs out.
"""

import queue
import signal
import threading
import time
import urllib.request

import cv2
import grpc
import numpy as np
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


def frames_run(metrics_port: int) -> int:
    """patchcore_inference_count_total: frames the server has read and sent through the model."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
        for line in page.read().decode().splitlines():
            if line.startswith("patchcore_inference_count_total "):
                return int(float(line.split()[1]))
    raise AssertionError("no patchcore_inference_count_total in /metrics")


def wait_for_frames_run(metrics_port: int, at_least: int, timeout: float = 60.0) -> int:
    """Waits until the server has run `at_least` frames through the model; returns how many it has run."""
    deadline = time.monotonic() + timeout
    while (count := frames_run(metrics_port)) < at_least:
        assert time.monotonic() < deadline, f"the server ran only {count} frames"
        time.sleep(0.05)
    return count


@pytest.fixture(scope="module")
def drained(tiny_model, tmp_path_factory):
    """A stream with frames in flight when SIGTERM arrives; what health and a new call said meanwhile."""
    server = taught_server(tiny_model, tmp_path_factory.mktemp("drain"), "--stream-window", str(WINDOW))
    seen = {}
    sent_half, release = threading.Event(), threading.Event()

    # A 1 KB PNG of 256 x 256 asks for a 256 KB float32 heatmap: the answers fill the connection's window
    # after a few frames and back up, so the server holds a window of frames it has read but not answered
    # when SIGTERM comes, while the small requests still flow.
    image = pb.Image(encoded=cv2.imencode(".png", np.full((256, 256, 3), 128, np.uint8))[1].tobytes())

    def frames():
        for frame_id in range(FRAMES):
            if frame_id == FRAMES // 2:
                sent_half.set()
                release.wait(60)
            yield pb.InspectRequest(
                product_id=PRODUCT, frame_id=frame_id, image=image, heatmap=pb.HEATMAP_FORMAT_FLOAT32
            )

    try:
        with grpc.insecure_channel(server.target) as channel, grpc.insecure_channel(server.target) as other:
            responses = stub_for(channel).InspectStream(frames(), timeout=120)
            assert sent_half.wait(60)  # nothing is read from `responses` yet: answers back up
            # The stream's reader runs a window of frames ahead of the answers, whatever became of them.
            seen["scored_before_sigterm"] = wait_for_frames_run(server.metrics_port, WINDOW)
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
    # Every frame the server had read and run before SIGTERM is answered with its result.
    assert scored >= drained["scored_before_sigterm"] >= WINDOW
    print(
        f"\nSIGTERM with {drained['scored_before_sigterm']} frames read and run: {scored} scored, "
        f"{FRAMES - scored} refused"
    )


def test_drained_server_exits_0(drained):
    assert drained["exit_code"] == 0


def test_a_stream_open_past_the_grace_is_cut_and_the_server_still_exits_0(tiny_model, tmp_path):
    server = taught_server(tiny_model, tmp_path, "--grace-seconds", "1")
    requests: queue.Queue = queue.Queue()
    with grpc.insecure_channel(server.target) as channel:
        responses = stub_for(channel).InspectStream(iter(requests.get, None), timeout=120)
        requests.put(inspect_request(PRODUCT))
        assert not next(responses).HasField("error")
        # The client neither sends nor closes: only the end of the grace can end the stream.
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0
        with pytest.raises(grpc.RpcError):
            next(responses)
        requests.put(None)


def within_retries(attempt, times: int = 50, pause: float = 0.2) -> bool:
    """True as soon as attempt() is; False when it never is in `times` tries."""
    for _ in range(times):
        if attempt():
            return True
        time.sleep(pause)
    return False


def answered_then_cancelled(stub, frame_id: int) -> bool:
    """Opens a stream, gets one frame answered, cancels; False when the server had --max-calls open."""
    requests: queue.Queue = queue.Queue()
    call = stub.InspectStream(iter(requests.get, None), timeout=60)
    requests.put(inspect_request(PRODUCT, frame_id=frame_id))
    try:
        answered = next(call).frame_id == frame_id
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # 4 calls still open: try again shortly
        answered = False
    call.cancel()
    requests.put(None)
    return answered


def test_cancelled_streams_free_their_calls(tiny_model, tmp_path):
    """With --max-calls 4, 20 cancelled streams that each stayed open would leave no room for new calls.

    A cancelled stream is released as the server notices the cancel, so an attempt may briefly find all four
    open; one that never releases them makes the retries run out.
    """
    server = taught_server(tiny_model, tmp_path, "--max-calls", "4")
    with grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        for frame_id in range(20):
            assert within_retries(lambda frame_id=frame_id: answered_then_cancelled(stub, frame_id))
        info = pb.GetServerInfoRequest()
        assert within_retries(lambda: status_code(stub.GetServerInfo, info, timeout=20) == grpc.StatusCode.OK)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0
