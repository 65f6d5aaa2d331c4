"""The log lines of a call name the client (its peer address), and a stream's its products and status."""

import threading

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import (
    inspect_request,
    log_events,
    start_server,
    status_code,
    stub_for,
    teach_request,
    wait_for_log_event,
)

PRODUCT = "part"


def test_call_events_carry_the_peer_and_a_stream_its_products_and_status(tiny_model, tmp_path):
    server = start_server(tiny_model, tmp_path / "store", tmp_path, "--stream-idle-seconds", "1")
    with server, grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        stub.Teach(teach_request(PRODUCT, seed=1))
        frames = [inspect_request(PRODUCT, 1), inspect_request("not-held", 2), inspect_request(PRODUCT, 3)]
        assert len(list(stub.InspectStream(iter(frames)))) == 3
        done = threading.Event()

        def one_frame_then_silence():
            yield inspect_request(PRODUCT, 4)
            done.wait(60)

        try:
            idle = status_code(lambda: list(stub.InspectStream(one_frame_then_silence())))
        finally:
            done.set()
        assert idle == grpc.StatusCode.DEADLINE_EXCEEDED
        stub.DeleteProduct(pb.DeleteProductRequest(product_id=PRODUCT))
        wait_for_log_event(server, "product_deleted")
    taught, deleted = log_events(server, "product_taught")[0], log_events(server, "product_deleted")[0]
    ended, idled = log_events(server, "stream_ended")
    peer = taught["peer"]
    assert peer.startswith("ipv4:127.0.0.1:")
    assert deleted["peer"] == ended["peer"] == idled["peer"] == peer  # one channel, one connection
    assert (ended["products"], ended["code"], ended["frames"]) == (["_unknown", PRODUCT], "OK", 3)
    assert (idled["products"], idled["code"], idled["frames"]) == ([PRODUCT], "DEADLINE_EXCEEDED", 1)
    assert "peer" not in log_events(server, "server_started")[0]  # not logged by a call
    assert "peer" not in log_events(server, "server_stopped")[0]


def test_a_stream_ended_by_a_malformed_message_is_logged_with_the_clients_status(tiny_model, tmp_path):
    """The frames before it are answered; the call ends with INVALID_ARGUMENT, and so says the log."""
    server = start_server(tiny_model, tmp_path / "store", tmp_path)
    with server, grpc.insecure_channel(server.target) as channel:
        stub_for(channel).Teach(teach_request(PRODUCT, seed=1))
        stream = channel.stream_stream(
            "/patchcore.edge.v1.InspectionService/InspectStream",
            request_serializer=lambda message: message,
            response_deserializer=pb.InspectResponse.FromString,
        )
        good = inspect_request(PRODUCT, 1).SerializeToString()
        answered = []
        code = status_code(lambda: answered.extend(stream(iter([good, b"\xff\xff\xff", good]))))
        ended = wait_for_log_event(server, "stream_ended")

    assert [response.frame_id for response in answered] == [1]
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert (ended["code"], ended["frames"]) == ("INVALID_ARGUMENT", 1)
