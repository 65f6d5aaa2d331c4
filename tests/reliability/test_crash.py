"""`kill -9` at many moments of a re-teach, an AddImages, a rebuild for a new model or a delete: after a
restart every product is whole.

Each test copies a store holding `part` (versions 1 and 2) and `other`, starts a server on it, kills the
server at one moment while it changes `part` (or rebuilds both for another model), restarts a plain server
on the same store and checks what it serves.
The exact moments of the file writes are reached by crash_injection.py; the moments of the teach computation
by sending SIGKILL from outside once the server has spent a given CPU time on a long Teach, or once a long
rebuild has started.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import psutil
import pytest
from patchcore_client.local_server import free_port
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import (
    CRASH_VARIABLE,
    inspect_request,
    raw_image,
    start_server,
    status_code,
    stub_for,
    wait_for_log_event,
    wait_until_usable,
)
from reliability_support import teach_request as make_teach_request
from tiny_model import write_tiny_model

from patchcore.bank import load_bank
from patchcore.model import read_model_info

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


# What a store holds for good besides its products: the writer's lock, deleted products' last versions.
STORE_FILES = {".lock", ".deleted"}


def leftovers(store: Path) -> list[str]:
    """Temp files, half-deleted folders and teach images no version names: what a crash may leave and a start
    must clean up."""
    names = {product.name: set() for product in store.iterdir() if product.is_dir()}
    for product in names:
        for bank in (store / product).glob("v*.bank"):
            names[product].add(load_bank(bank).teach_images_sha256 + ".images")
    return sorted(
        str(path.relative_to(store))
        for path in store.rglob("*")
        if (path.name.startswith(".") and str(path.relative_to(store)) not in STORE_FILES)
        or (path.suffix == ".images" and path.name not in names[path.parent.name])
    )


def restarted_state(model, store: Path, log_dir: Path, rebuilt: frozenset[str] = frozenset()) -> dict:
    """What a plain server restarted on `store` serves, and what is left in the store once it runs (and has
    rebuilt the products named in `rebuilt`)."""
    with start_server(model, store, log_dir) as server, grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        wait_until_usable(stub, set(rebuilt))
        products = {p.product_id: p for p in stub.ListProducts(pb.ListProductsRequest()).products}
        inspected = {pid: stub.Inspect(inspect_request(pid, frame_id=7)).product_version for pid in products}
        part_lookup = status_code(stub.GetProduct, pb.GetProductRequest(product_id=PART))
        return {
            "products": products,
            "inspected": inspected,
            "leftovers": leftovers(store),
            "part_lookup": part_lookup,
            "stub": stub,
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


# Where a re-teach or an AddImages is killed, and the versions of PART a restart may then serve: the new
# version 3 exists only once its bank file has its name, whatever happened to its images before.
WRITE_MOMENTS = [
    ("torn:images", {2}),
    ("after_rename:images", {2}),
    ("torn:bank", {2}),
    ("before_rename:bank", {2}),
    ("after_rename:bank", {3}),
    ("during_prune", {3}),
]


@pytest.mark.parametrize(("moment", "versions"), WRITE_MOMENTS)
def test_kill_while_storing_a_reteach(tiny_model, seed_store, tmp_path, moment, versions):
    store = copy_store(seed_store, tmp_path)
    server = crashing_server(tiny_model, store, tmp_path / "crashing", moment)
    with grpc.insecure_channel(server.target) as channel:
        code = status_code(stub_for(channel).Teach, make_teach_request(PART, seed=4), timeout=60)
    assert code == grpc.StatusCode.UNAVAILABLE  # the connection died with the server
    assert server.process.wait(30) == -signal.SIGKILL
    assert_whole(restarted_state(tiny_model, store, tmp_path / "restarted"), seed_store[1], versions)


@pytest.mark.parametrize(("moment", "versions"), WRITE_MOMENTS)
def test_kill_while_storing_added_images(tiny_model, seed_store, tmp_path, moment, versions):
    store = copy_store(seed_store, tmp_path)
    server = crashing_server(tiny_model, store, tmp_path / "crashing", moment)
    added = pb.AddImagesRequest(product_id=PART, images=[raw_image(np.random.default_rng(6))])
    with grpc.insecure_channel(server.target) as channel:
        code = status_code(stub_for(channel).AddImages, added, timeout=60)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert server.process.wait(30) == -signal.SIGKILL

    state = restarted_state(tiny_model, store, tmp_path / "restarted")
    assert_whole(state, seed_store[1], versions)
    part = state["products"][PART]
    assert part.teach_stats.image_count == {2: 4, 3: 5}[part.version]


@pytest.fixture(scope="module")
def other_model(tmp_path_factory) -> Path:
    """A tiny model with other weights: another fingerprint, so the seed store's products need a rebuild."""
    return write_tiny_model(tmp_path_factory.mktemp("other_model") / "tiny_other.onnx", seed=1)


def killed_at(model: Path, store: Path, log_dir: Path, moment: str) -> int:
    """Runs a server on store until it kills itself at `moment`; its exit status. The server is not waited
    for: a rebuild starts when it starts, and may reach the moment before the server answers anything."""
    log_dir.mkdir(parents=True, exist_ok=True)
    python_path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "crash_injection", "--model", str(model), "--store", str(store),
               "--port", str(free_port()), "--metrics-port", "0"]  # fmt: skip
    env = {**os.environ, CRASH_VARIABLE: moment, "PYTHONPATH": python_path}
    with open(log_dir / "server.log", "wb") as log:
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=120).returncode


@pytest.mark.parametrize("moment", ["torn:bank", "before_rename:bank", "after_rename:bank", "during_prune"])
def test_kill_while_storing_a_rebuild(tiny_model, other_model, seed_store, tmp_path, moment):
    """A rebuild shares its source's images and writes only a bank: OTHER's first (v1 -> v2), then PART's
    (v2 -> v3, pruning v1)."""
    store = copy_store(seed_store, tmp_path)
    assert killed_at(other_model, store, tmp_path / "crashing", moment) == -signal.SIGKILL

    state = restarted_state(other_model, store, tmp_path / "restarted", rebuilt=frozenset({PART, OTHER}))
    fingerprint = read_model_info(other_model).fingerprint
    products = state["products"]
    assert {pid: (p.version, p.model_fingerprint) for pid, p in products.items()} == {
        OTHER: (2, fingerprint),
        PART: (3, fingerprint),
    }
    assert state["inspected"] == {OTHER: 2, PART: 3}
    assert state["leftovers"] == []
    stored = {path.name for path in (store / PART).glob("*.bank")}
    assert {"v00000002.bank", "v00000003.bank"} <= stored  # the previous version stays on disk


def test_kill_9_from_outside_during_a_long_rebuild(tiny_model, other_model, tmp_path):
    """16 images with 8 rotations and flips each and a large coreset take a while to rebuild; the kill
    lands once the rebuild has started (on a very fast machine maybe after it stored: then it is whole)."""
    store = tmp_path / "store"
    request = make_teach_request(PART, seed=7, count=16)
    request.options.augment_rotations = True
    request.options.coreset_ratio = 0.5
    with start_server(tiny_model, store, tmp_path / "teach") as server, server.channel() as channel:
        taught = stub_for(channel).Teach(request, timeout=300)

    server = start_server(other_model, store, tmp_path / "killed")
    wait_for_log_event(server, "product_rebuild_started", product=PART)
    server.process.kill()
    assert server.process.wait(30) == -signal.SIGKILL

    state = restarted_state(other_model, store, tmp_path / "restarted", rebuilt=frozenset({PART}))
    part = state["products"][PART]
    assert part.version == taught.version + 1  # rebuilt after the restart, or stored before the kill
    assert part.teach_stats.image_count == 16
    assert state["inspected"][PART] == part.version
    assert state["leftovers"] == []


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
