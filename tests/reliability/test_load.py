"""8 concurrent streams x 500 frames while products are re-taught, updated and deleted under them.

Every frame is answered once, in order, with its id; a stream of a deleted product gets NOT_FOUND in-stream
from then on; streams of a re-taught product move to the new version and never back. Frames/s and p99
latency are printed (speed is a benchmark's business, so nothing here asserts on it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import numpy as np
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import inspect_request, start_server, stub_for
from reliability_support import teach_request as make_teach_request

pytestmark = pytest.mark.slow

FRAMES = 500
HOLD_AT = 250  # streams wait here for the change they are meant to see
STEADY, DOOMED, CALM, NEWCOMER = "steady", "doomed", "calm", "newcomer"
STREAM_PRODUCTS = (STEADY, STEADY, STEADY, STEADY, DOOMED, DOOMED, CALM, CALM)
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]


@dataclass
class StreamRecord:
    """What one stream sent and got; times are perf_counter seconds."""

    product_id: str
    frame_ids: list[int]
    sent: dict[int, float] = field(default_factory=dict)
    received: dict[int, float] = field(default_factory=dict)
    responses: list[pb.InspectResponse] = field(default_factory=list)
    reached_hold: threading.Event = field(default_factory=threading.Event)
    first_answered: threading.Event = field(default_factory=threading.Event)


def frames(record: StreamRecord, hold: threading.Event) -> Iterator[pb.InspectRequest]:
    for index, frame_id in enumerate(record.frame_ids):
        if index == HOLD_AT:
            record.reached_hold.set()
            hold.wait(120)
        record.sent[frame_id] = time.perf_counter()
        yield pb.InspectRequest(product_id=record.product_id, frame_id=frame_id,
                                image=inspect_request(record.product_id, seed=index).image)  # fmt: skip


def run_stream(target: str, record: StreamRecord, hold: threading.Event) -> None:
    with grpc.insecure_channel(target) as channel:
        for response in stub_for(channel).InspectStream(frames(record, hold), timeout=600):
            record.received[response.frame_id] = time.perf_counter()
            record.responses.append(response)
            record.first_answered.set()


@dataclass
class Changes:
    """The admin calls made while the streams run, and when each finished."""

    steady_retaught: threading.Event = field(default_factory=threading.Event)
    doomed_deleted: threading.Event = field(default_factory=threading.Event)
    deleted_at: float = 0.0
    retaught_version: int = 0
    versions: dict[str, list[int]] = field(default_factory=dict)


def change_products(target: str, records: list[StreamRecord], changes: Changes) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = stub_for(channel)
        for record in records:  # every stream starts on the products as first taught
            assert record.first_answered.wait(120)
        changes.retaught_version = stub.Teach(make_teach_request(STEADY, seed=10)).version
        changes.steady_retaught.set()
        stub.Teach(make_teach_request(NEWCOMER, seed=11))
        update = pb.UpdateProductRequest(product_id=STEADY, options=pb.ProductOptions(threshold=0.9),
                                         update_fields=["threshold"])  # fmt: skip
        stub.UpdateProduct(update)
        for record in records:
            if record.product_id == DOOMED:
                record.reached_hold.wait(120)
        stub.DeleteProduct(pb.DeleteProductRequest(product_id=DOOMED))
        changes.deleted_at = time.perf_counter()
        changes.doomed_deleted.set()
        stub.UpdateProduct(pb.UpdateProductRequest(product_id=CALM, options=pb.ProductOptions(threshold=0.5),
                                                   update_fields=["threshold"]))  # fmt: skip
        stub.Teach(make_teach_request(STEADY, seed=12))


@pytest.fixture(scope="module")
def load_run(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("load")
    with start_server(tiny_model, folder / "store", folder) as server:
        with grpc.insecure_channel(server.target) as channel:
            for seed, product_id in enumerate((STEADY, DOOMED, CALM)):
                stub_for(channel).Teach(make_teach_request(product_id, seed=seed))
        records = [
            StreamRecord(product_id, [stream * 1_000_000 + index for index in range(FRAMES)])
            for stream, product_id in enumerate(STREAM_PRODUCTS)
        ]
        changes = Changes()
        holds = {STEADY: changes.steady_retaught, DOOMED: changes.doomed_deleted, CALM: threading.Event()}
        holds[CALM].set()
        started = time.perf_counter()
        with ThreadPoolExecutor(len(records) + 1) as pool:
            streams = [pool.submit(run_stream, server.target, r, holds[r.product_id]) for r in records]
            admin = pool.submit(change_products, server.target, records, changes)
            for future in [*streams, admin]:
                future.result()
        seconds = time.perf_counter() - started
    report(records, seconds)
    return records, changes


def report(records: list[StreamRecord], seconds: float) -> None:
    """Prints throughput and two latencies: in the server (read to answered, from the response's timings),
    and end to end (handed to gRPC to answer received, which includes waiting in the stream's send window:
    the streams push frames as fast as flow control lets them)."""
    in_server = np.array(
        [r.timings.total_ms for record in records for r in record.responses if not r.error.code]
    )
    end_to_end = np.array([r.received[i] - r.sent[i] for r in records for i in r.received]) * 1e3
    count = len(end_to_end)
    print(
        f"\nload: {len(records)} streams x {FRAMES} frames = {count} frames in {seconds:.1f} s = "
        f"{count / seconds:.0f} frames/s; in-server latency p50 {np.percentile(in_server, 50):.1f} ms, "
        f"p99 {np.percentile(in_server, 99):.1f} ms; end-to-end p50 {np.percentile(end_to_end, 50):.0f} ms, "
        f"p99 {np.percentile(end_to_end, 99):.0f} ms"
    )


def test_every_frame_is_answered_once_in_order(load_run):
    records, _ = load_run
    for record in records:
        assert [response.frame_id for response in record.responses] == record.frame_ids


def test_frames_of_live_products_never_fail(load_run):
    records, _ = load_run
    for record in records:
        if record.product_id != DOOMED:
            assert not [r.frame_id for r in record.responses if r.HasField("error")]


def test_a_retaught_product_moves_to_the_new_version_and_never_back(load_run):
    records, changes = load_run
    for record in records:
        if record.product_id == STEADY:
            versions = [response.product_version for response in record.responses]
            assert versions == sorted(versions)
            assert versions[0] == 1
            assert min(versions[HOLD_AT:]) >= changes.retaught_version


def test_frames_after_a_delete_get_not_found_in_stream(load_run):
    records, changes = load_run
    for record in records:
        if record.product_id != DOOMED:
            continue
        codes = [response.error.code for response in record.responses]
        first_missing = codes.index(NOT_FOUND)
        assert set(codes[:first_missing]) == {0}  # served until the delete...
        assert set(codes[first_missing:]) == {NOT_FOUND}  # ...and never again after it
        assert all(
            response.error.code == NOT_FOUND
            for response in record.responses
            if record.sent[response.frame_id] > changes.deleted_at
        )
        assert first_missing <= HOLD_AT
