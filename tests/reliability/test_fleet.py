"""A fleet: servers sharing one product store, a real nats-server on loopback (JetStream in a temp dir).

Every wait is for an event - a line in the log of the server concerned, an answer in a stream - never for
time.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import grpc
import numpy as np
import pytest
from fleet_support import (
    InspectingStream,
    Member,
    NatsWithoutJetStream,
    publish_tampered_version,
    read_manifest,
    rpc_error,
)
from patchcore_client import InspectionClient
from patchcore_client.local_nats import LocalNats
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import (
    fill,
    inspect_request,
    metric_value,
    start_server,
    stub_for,
    teach_request,
    wait_for_log_event,
)
from tiny_model import write_tiny_model

from patchcore.model import read_model_info

PRODUCT = "bracket"
FRAMES_METRIC = "patchcore_inference_count_total"


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("other_model") / "tiny_other.onnx", seed=2)


@pytest.fixture
def nats_store(tmp_path: Path) -> Iterator[LocalNats]:
    with LocalNats(tmp_path / "jetstream", tmp_path / "nats.log") as store:
        yield store


@pytest.fixture
def fleet(tiny_model: Path, nats_store: LocalNats, tmp_path: Path) -> Iterator[Callable[..., Member]]:
    """fleet(name) starts a server of the fleet with its folder in tmp_path/name (its store there too unless
    given), and by default waits until it is connected to the store; every server is stopped at the end."""
    with ExitStack() as stack:

        def start(
            name: str, model: Path = tiny_model, *args: str, connected: bool = True, store: Path | None = None
        ) -> Member:
            folder = tmp_path / name
            flags = ("--fleet-store", nats_store.url, "--log-level", "debug", *args)
            server = stack.enter_context(start_server(model, store or folder / "store", folder, *flags))
            if connected:
                wait_for_log_event(server, "fleet_connected")
            return Member(server, stub_for(stack.enter_context(server.channel())))

        yield start


def update_threshold(member: Member, threshold: float, expected_version: int = 0) -> pb.Product:
    return member.stub.UpdateProduct(
        pb.UpdateProductRequest(
            product_id=PRODUCT,
            options=pb.ProductOptions(threshold=threshold),
            expected_version=expected_version,
        )
    )


def teach_at_once(members: tuple[Member, ...], seed: int) -> list[int]:
    """Teaches PRODUCT on every member at the same moment; the versions they answer, in member order."""
    start = threading.Barrier(len(members))

    def teach(member: Member, offset: int) -> int:
        start.wait()
        return member.stub.Teach(teach_request(PRODUCT, seed=seed + offset)).version

    with ThreadPoolExecutor(len(members)) as pool:
        return list(pool.map(teach, members, range(len(members))))


def test_a_product_taught_on_one_server_is_served_by_the_other_and_changes_travel_back(fleet, nats_store):
    a, b = fleet("a"), fleet("b")
    assert a.stub.Teach(teach_request(PRODUCT, seed=1)).version == 1
    wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=1)
    assert b.stub.Inspect(inspect_request(PRODUCT)).product_version == 1
    info = b.fleet_info()
    assert (info.enabled, info.connected, info.url, info.pending_products) == (True, True, nats_store.url, 0)
    assert info.last_sync_unix > 0

    assert update_threshold(b, 0.25).version == 2
    wait_for_log_event(a.server, "fleet_version_received", product=PRODUCT, version=2)
    product = a.stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT))
    assert product.options.threshold == pytest.approx(0.25)
    # expected_version is checked against the fleet's version
    stale = rpc_error(lambda request: update_threshold(a, 0.5, expected_version=1), None)
    assert stale.code() == grpc.StatusCode.ABORTED
    assert a.version(PRODUCT) == b.version(PRODUCT) == 2

    assert a.stub.DeleteProduct(pb.DeleteProductRequest(product_id=PRODUCT)).deleted_version == 2
    wait_for_log_event(b.server, "fleet_product_deleted", product=PRODUCT, version=2)
    gone = rpc_error(b.stub.GetProduct, pb.GetProductRequest(product_id=PRODUCT))
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    # Taught again, it is numbered above every version the fleet had: a server that missed the delete
    # still takes the new version as newer than its copy.
    assert b.stub.Teach(teach_request(PRODUCT, seed=2)).version == 3
    wait_for_log_event(a.server, "fleet_version_received", product=PRODUCT, version=3)


def test_a_client_given_several_servers_spreads_its_calls_over_them(fleet):
    a, b = fleet("a"), fleet("b")
    a.stub.Teach(teach_request(PRODUCT, seed=1))
    wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=1)
    served_before = [metric_value(member.server, FRAMES_METRIC) for member in (a, b)]
    target = f"ipv4:{a.server.target},{b.server.target}"
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with InspectionClient(target, timeout=60) as client:
        results = [client.inspect(PRODUCT, pixels) for _ in range(20)]
    assert {result.product_version for result in results} == {1}
    served = [metric_value(member.server, FRAMES_METRIC) for member in (a, b)]
    frames_on_a, frames_on_b = (after - before for after, before in zip(served, served_before, strict=True))
    assert frames_on_a + frames_on_b == 20
    assert frames_on_a > 0 and frames_on_b > 0


def test_with_the_store_down_inspection_goes_on_writes_are_unavailable_and_every_server_catches_up(
    fleet, nats_store, tmp_path
):
    a, b = fleet("a"), fleet("b")
    a.stub.Teach(teach_request(PRODUCT, seed=1))
    wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=1)
    shutil.copytree(tmp_path / "b" / "store", tmp_path / "c" / "store")  # a folder holding version 1
    a.stub.Teach(teach_request(PRODUCT, seed=2))
    wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=2)

    with InspectingStream(b.stub, PRODUCT) as stream:
        stream.wait_for_frames(3)
        nats_store.kill()
        for member in (a, b):
            wait_for_log_event(member.server, "fleet_disconnected")
        a_files = sorted(path.name for path in (tmp_path / "a" / "store" / PRODUCT).iterdir())
        for call, request in (
            (a.stub.Teach, teach_request(PRODUCT, seed=3)),
            (
                a.stub.AddImages,
                pb.AddImagesRequest(product_id=PRODUCT, images=teach_request(PRODUCT, seed=5).images),
            ),
            (a.stub.UpdateProduct, pb.UpdateProductRequest(product_id=PRODUCT, options={"threshold": 0.5})),
            (a.stub.DeleteProduct, pb.DeleteProductRequest(product_id=PRODUCT)),
        ):
            error = rpc_error(call, request)
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert nats_store.url in error.details()
        for event in ("teach_failed", "add_images_failed", "update_failed", "delete_failed"):
            refused = wait_for_log_event(a.server, event, product=PRODUCT)
            assert (refused["level"], refused["code"]) == ("warning", "UNAVAILABLE")
        assert a.version(PRODUCT) == 2
        assert sorted(path.name for path in (tmp_path / "a" / "store" / PRODUCT).iterdir()) == a_files

        c = fleet("c", connected=False)  # starts while the store is down: serves its folder
        assert c.stub.Inspect(inspect_request(PRODUCT)).product_version == 1
        assert c.fleet_info().enabled and not c.fleet_info().connected
        stream.wait_for_frames(len(stream.versions) + 3)  # b goes on inspecting

        nats_store.start()  # the same port and JetStream directory
        for member, connects in ((a, 2), (b, 2), (c, 1)):
            wait_for_log_event(member.server, "fleet_connected", nth=connects)
        wait_for_log_event(c.server, "fleet_version_received", product=PRODUCT, version=2)
        assert a.stub.Teach(teach_request(PRODUCT, seed=4)).version == 3
        for member in (b, c):
            wait_for_log_event(member.server, "fleet_version_received", product=PRODUCT, version=3)
        stream.wait_for_version(3)
    assert stream.errors == []
    assert stream.versions == sorted(stream.versions) and stream.versions[0] == 2
    assert [member.version(PRODUCT) for member in (a, b, c)] == [3, 3, 3]
    assert c.fleet_info().connected and c.fleet_info().pending_products == 0


def test_a_version_file_that_does_not_match_its_manifest_is_refused_and_the_served_version_stays(
    fleet, nats_store
):
    a, b = fleet("a"), fleet("b")
    a.stub.Teach(teach_request(PRODUCT, seed=1))
    wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=1)

    tampered = publish_tampered_version(nats_store.url, PRODUCT)
    for member in (a, b):
        refused = wait_for_log_event(
            member.server, "fleet_version_refused", product=PRODUCT, version=tampered
        )
        assert "sha256" in refused["reason"]
        assert member.stub.Inspect(inspect_request(PRODUCT)).product_version == 1
        assert member.fleet_info().pending_products == 1

    # A version taught after it is numbered above it, and replaces it everywhere.
    assert a.stub.Teach(teach_request(PRODUCT, seed=2)).version == tampered + 1
    wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=tampered + 1)
    assert b.fleet_info().pending_products == 0


def test_concurrent_teaches_on_two_servers_give_distinct_versions_the_higher_wins_and_none_goes_back(fleet):
    a, b = fleet("a"), fleet("b")
    a.stub.Teach(teach_request(PRODUCT, seed=1))
    wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=1)

    with InspectingStream(a.stub, PRODUCT) as on_a, InspectingStream(b.stub, PRODUCT) as on_b:
        for round_number in range(3):
            on_a_version, on_b_version = teach_at_once((a, b), seed=10 * round_number)
            lower, higher = sorted((on_a_version, on_b_version))
            assert lower != higher
            behind = a if on_a_version == lower else b
            wait_for_log_event(behind.server, "fleet_version_received", product=PRODUCT, version=higher)
            assert a.version(PRODUCT) == b.version(PRODUCT) == higher
        for stream in (on_a, on_b):
            stream.wait_for_version(higher)
    for stream in (on_a, on_b):
        assert stream.errors == []
        assert stream.versions == sorted(stream.versions)


def test_a_server_with_another_model_rebuilds_a_received_version_for_itself_without_publishing_it(
    fleet, nats_store, tiny_model, other_model
):
    a, b = fleet("a"), fleet("b", other_model)
    a.stub.Teach(teach_request(PRODUCT, seed=1))
    received = wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=1)
    assert received["usable"] is False  # built for a's model
    wait_for_log_event(b.server, "product_rebuilt", product=PRODUCT, version=1)
    assert b.stub.Inspect(inspect_request(PRODUCT)).product_version == 1
    manifest = read_manifest(nats_store.url, PRODUCT)
    assert manifest["version"] == 1
    assert manifest["model_fingerprint"] == read_model_info(tiny_model).fingerprint
    assert a.stub.Inspect(inspect_request(PRODUCT)).product_version == 1


def test_while_a_version_changed_on_another_model_is_rebuilt_the_previous_one_goes_on_inspecting(
    fleet, other_model
):
    a, b = fleet("a"), fleet("b", other_model)
    a.stub.Teach(teach_request(PRODUCT, seed=1))
    wait_for_log_event(b.server, "product_rebuilt", product=PRODUCT, version=1)
    with InspectingStream(b.stub, PRODUCT) as on_b:
        on_b.wait_for_version(1)
        update_threshold(a, 0.25)  # version 2, built for a's model: b rebuilds it
        received = wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=2)
        assert received["usable"] is True and "inspected with version 1" in received["problem"]
        wait_for_log_event(b.server, "product_rebuilt", product=PRODUCT, version=2)
        on_b.wait_for_version(2)
    assert on_b.errors == []
    assert set(on_b.versions) == {1, 2} and on_b.versions == sorted(on_b.versions)


def test_a_server_joining_with_a_folder_of_products_publishes_them(fleet, tiny_model, tmp_path):
    alone = start_server(tiny_model, tmp_path / "alone" / "store", tmp_path / "alone")
    with alone, alone.channel() as channel:
        stub_for(channel).Teach(teach_request(PRODUCT, seed=1))
    shutil.copytree(tmp_path / "alone" / "store", tmp_path / "joining" / "store")
    joining = fleet("joining")
    wait_for_log_event(joining.server, "fleet_product_published", product=PRODUCT, version=1)
    other = fleet("other")
    wait_for_log_event(other.server, "fleet_version_received", product=PRODUCT, version=1)


def _taught_alone(tiny_model: Path, folder: Path, seeds: range) -> float:
    """A server on its own teaches PRODUCT once per seed in its folder; the threshold it ends with."""
    alone = start_server(tiny_model, folder / "store", folder)
    with alone, alone.channel() as channel:
        return [stub_for(channel).Teach(teach_request(PRODUCT, seed=seed)) for seed in seeds][-1].threshold


def test_a_server_joining_with_its_own_copy_of_a_fleet_product_takes_the_fleets(fleet, tiny_model, tmp_path):
    """Same name, same version number, other images: the fleet's version replaces the joining server's,
    which used to keep its own under the same version number for good."""
    _taught_alone(tiny_model, tmp_path / "joining", range(1, 2))
    first = fleet("first")
    taught = first.stub.Teach(teach_request(PRODUCT, seed=7))
    joining = fleet("joining")
    replaced = wait_for_log_event(joining.server, "fleet_local_copy_replaced", product=PRODUCT)
    assert (replaced["level"], replaced["local_version"], replaced["version"]) == ("warning", 1, 1)
    product = joining.stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT))
    assert (product.version, product.threshold) == (taught.version, taught.threshold)
    changed = update_threshold(joining, 0.5, expected_version=1)  # was ABORTED forever before
    wait_for_log_event(first.server, "fleet_version_received", product=PRODUCT, version=changed.version)


def test_a_fleet_delete_reaches_a_joining_server_whose_own_copy_has_a_higher_version(
    fleet, tiny_model, tmp_path
):
    _taught_alone(tiny_model, tmp_path / "joining", range(1, 4))  # versions 1, 2, 3
    first = fleet("first")
    first.stub.Teach(teach_request(PRODUCT, seed=7))
    first.stub.DeleteProduct(pb.DeleteProductRequest(product_id=PRODUCT))  # the fleet's tombstone: version 1
    joining = fleet("joining")
    deleted = wait_for_log_event(joining.server, "fleet_product_deleted", product=PRODUCT)
    assert (deleted["level"], deleted["local_version"]) == ("warning", 3)
    error = rpc_error(joining.stub.GetProduct, pb.GetProductRequest(product_id=PRODUCT))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_a_version_its_writer_could_not_keep_in_its_folder_is_fetched_once_the_folder_is_writable(
    fleet, small_disk
):
    """The fleet holds a version before the writer's folder does (README "When a piece goes away": a
    server's disk full); the writer used to take the version as its own and never fetch it, serving the one
    before until it was restarted."""
    a, b = fleet("a", store=small_disk / "store"), fleet("b")
    a.stub.Teach(teach_request(PRODUCT, seed=1))
    wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=1)

    # A full disk, not a read-only one: a store that takes no file at all refuses the Teach before it is
    # built, while a full one takes the check's empty file and fails only at the version's own files.
    filler = fill(small_disk)
    error = rpc_error(a.stub.Teach, teach_request(PRODUCT, seed=2))
    assert error.code() == grpc.StatusCode.UNAVAILABLE and "No space left on device" in error.details()
    assert "The fleet holds version 2 of 'bracket' already" in error.details()
    wait_for_log_event(b.server, "fleet_version_received", product=PRODUCT, version=2)
    assert a.version(PRODUCT) == 1

    filler.unlink()
    wait_for_log_event(a.server, "fleet_version_received", product=PRODUCT, version=2)
    assert a.stub.Inspect(inspect_request(PRODUCT)).product_version == 2


def test_a_server_connected_to_a_store_whose_jetstream_does_not_answer_yet_opens_it_once_it_does(
    tiny_model, tmp_path
):
    """JetStream that answers only after the server connected (a line's leaf node whose uplink is down, a
    cluster electing its leader): the buckets are opened again until they can be, where the server used to
    stay unconnected, refusing every change, until the connection itself broke."""
    with NatsWithoutJetStream(tmp_path / "nats") as store:
        flags = ("--fleet-store", store.url, "--log-level", "debug")
        server = start_server(tiny_model, tmp_path / "a" / "store", tmp_path / "a", *flags)
        with server, server.channel() as channel:
            stub = stub_for(channel)
            unusable = wait_for_log_event(server, "fleet_buckets_unusable")
            assert unusable["level"] == "error"
            error = rpc_error(stub.Teach, teach_request(PRODUCT, seed=1))
            assert error.code() == grpc.StatusCode.UNAVAILABLE

            store.enable_jetstream()
            wait_for_log_event(server, "fleet_connected")
            assert stub.Teach(teach_request(PRODUCT, seed=1)).version == 1
            assert read_manifest(store.url, PRODUCT)["version"] == 1
