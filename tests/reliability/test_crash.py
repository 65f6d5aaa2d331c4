"""`kill -9` at many moments of a re-teach or a delete: after a restart every product is whole.

Each test copies a store holding `part` (versions 1 and 2) and `other`, starts a server on it, kills the
server at one moment while it changes `part`, restarts a plain server on the same store and checks what it
serves.
The exact moments of the file write are reached by crash_injection.py; the moments of the teach computation
by sending SIGKILL from outside once the server has spent a given CPU time on a long Teach.
"""

import os
import shutil
import signal
import time
from pathlib import Path

import grpc
import psutil
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import CRASH_VARIABLE, inspect_request, start_server, status_code, stub_for
from reliability_support import teach_request as make_teach_request

pytestmark = pytest.mark.slow

PART, OTHER = "part", "other"
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def seed_store(tiny_model, tmp_path_factory):
    """A store with PART at versions 1 and 2 and OTHER at version 1, and PART's version 2 as served."""
    folder = tmp_path_factory.mktemp("seed")
    with (
        start_server(tiny_model, folder / "store", folder) as server,
        grpc.insecure_channel(server.target) as ch,
    ):
        stub = stub_for(ch)
        stub.Teach(make_teach_request(PART, seed=1))
        part = stub.Teach(make_teach_request(PART, seed=2))
        stub.Teach(make_teach_request(OTHER, seed=3))
    return folder / "store", part


def copy_store(seed_store, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(seed_store[0], store)
    return store


def crashing_server(tiny_model, store: Path, log_dir: Path, moment: str):
    python_path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    env = {CRASH_VARIABLE: moment, "PYTHONPATH": python_path}
    return start_server(tiny_model, store, log_dir, env=env, module="crash_injection")


def leftovers(store: Path) -> list[str]:
    """Temp files and half-deleted folders: what a crash may leave and a start must clean up."""
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.name.startswith("."))


def restarted_state(tiny_model, store: Path, log_dir: Path) -> dict:
    """What a plain server restarted on `store` serves, and what is left in the store once it runs."""
    with start_server(tiny_model, store, log_dir) as server, grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        products = {p.product_id: p for p in stub.ListProducts(pb.ListProductsRequest()).products}
        inspected = {pid: stub.Inspect(inspect_request(pid, frame_id=7)).product_version for pid in products}
        part_lookup = status_code(stub.GetProduct, pb.GetProductRequest(product_id=PART))
        return {
            "products": products,
            "inspected": inspected,
            "leftovers": leftovers(store),
            "part_lookup": part_lookup,
        }


def assert_whole(state: dict, seed_part: pb.Product, versions: set[int]) -> None:
    """PART serves one of `versions`, usable and scored with it; OTHER is untouched; nothing left over."""
    part = state["products"][PART]
    assert part.usable, part.status_message
    assert part.version in versions
    assert state["inspected"][PART] == part.version
    if part.version == seed_part.version:
        assert part.threshold == seed_part.threshold
    assert state["products"][OTHER].usable and state["products"][OTHER].version == 1
    assert set(state["products"]) == {PART, OTHER}
    assert state["leftovers"] == []


@pytest.mark.parametrize(
    ("moment", "versions"),
    [("torn_temp_file", {2}), ("before_rename", {2}), ("after_rename", {3}), ("during_prune", {3})],
)
def test_kill_while_storing_a_reteach(tiny_model, seed_store, tmp_path, moment, versions):
    store = copy_store(seed_store, tmp_path)
    server = crashing_server(tiny_model, store, tmp_path / "crashing", moment)
    with grpc.insecure_channel(server.target) as channel:
        code = status_code(stub_for(channel).Teach, make_teach_request(PART, seed=4), timeout=60)
    assert code == grpc.StatusCode.UNAVAILABLE  # the connection died with the server
    assert server.process.wait(30) == -signal.SIGKILL
    assert_whole(restarted_state(tiny_model, store, tmp_path / "restarted"), seed_store[1], versions)


def test_kill_while_deleting_leaves_the_product_gone_and_nothing_behind(tiny_model, seed_store, tmp_path):
    store = copy_store(seed_store, tmp_path)
    server = crashing_server(tiny_model, store, tmp_path / "crashing", "during_delete")
    with grpc.insecure_channel(server.target) as channel:
        code = status_code(
            stub_for(channel).DeleteProduct, pb.DeleteProductRequest(product_id=PART), timeout=60
        )
    assert code == grpc.StatusCode.UNAVAILABLE
    assert server.process.wait(30) == -signal.SIGKILL
    assert any(name.startswith(".deleting-") for name in leftovers(store))  # the crash did leave something

    state = restarted_state(tiny_model, store, tmp_path / "restarted")
    assert state["part_lookup"] == grpc.StatusCode.NOT_FOUND
    assert set(state["products"]) == {OTHER}
    assert state["leftovers"] == []


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def wait_for_work(process: psutil.Process, seconds: float, call: grpc.Future) -> None:
    """Waits until `process` has spent `seconds` more CPU time (on the call), or the call has ended."""
    start = cpu_seconds(process)
    while cpu_seconds(process) - start < seconds and not call.done():
        time.sleep(0.01)


@pytest.mark.parametrize("cpu_seconds_into_teach", [0.3, 3.0, 12.0])
def test_kill_9_from_outside_during_a_long_reteach(tiny_model, seed_store, tmp_path, cpu_seconds_into_teach):
    """48 images with 8 rotations and flips each and a large coreset take tens of CPU seconds to teach; the
    kill lands while features, coreset or threshold are computed (on a much faster machine maybe later: then
    the new version must be whole). Counted in the server's CPU time, the moments do not move when other
    work slows the machine down."""
    store = copy_store(seed_store, tmp_path)
    server = start_server(tiny_model, store, tmp_path / "killed")
    request = make_teach_request(PART, seed=5, count=48)
    request.options.augment_rotations = True
    request.options.coreset_ratio = 0.5  # greedy coreset work grows with the bank size
    with grpc.insecure_channel(server.target) as channel:
        teach = stub_for(channel).Teach.future(request, timeout=300)
        wait_for_work(psutil.Process(server.process.pid), cpu_seconds_into_teach, teach)
        server.process.kill()
        assert server.process.wait(30) == -signal.SIGKILL
        finished = teach.exception() is None
    print(f"\nkill -9 {cpu_seconds_into_teach} CPU s into a long Teach; the Teach had finished: {finished}")
    state = restarted_state(tiny_model, store, tmp_path / "restarted")
    assert_whole(state, seed_store[1], {3} if finished else {2, 3})


def test_leftovers_of_a_crash_are_never_products_and_are_removed_at_start(tiny_model, seed_store, tmp_path):
    store = copy_store(seed_store, tmp_path)
    (store / PART / ".v00000003.bank.k2j4.tmp").write_bytes(b"half a bank")
    (store / "ghost").mkdir()
    (store / "ghost" / ".v00000001.bank.x9.tmp").write_bytes(b"half a bank")
    (store / ".deleting-gone-0123").mkdir()
    (store / ".deleting-gone-0123" / "v00000001.bank").write_bytes(b"a deleted bank")

    state = restarted_state(tiny_model, store, tmp_path / "restarted")
    assert_whole(state, seed_store[1], {2})
    assert not (store / ".deleting-gone-0123").exists()
