"""The generated Python stubs: checked in as `make proto` writes them, and registered under the contract's
file name, so stubs a user generates from protos/ load in the same process as patchcore_client."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import patchcore_client  # noqa: F401  (registers the contract before the user's module does)
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb

REPO = Path(__file__).resolve().parents[2]
STUBS = REPO / "stubs" / "python"
GENERATED = ("inspection_pb2.py", "inspection_pb2.pyi", "inspection_pb2_grpc.py")
CONTRACT_FILE = "patchcore/edge/v1/inspection.proto"


def protoc(*args: str | Path) -> None:
    command = [sys.executable, "-m", "grpc_tools.protoc", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_checked_in_stubs_are_what_make_proto_generates(tmp_path):
    command = [sys.executable, STUBS / "generate_stubs.py", "--out", tmp_path]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for name in GENERATED:
        checked_in = (STUBS / "patchcore_edge" / "v1" / name).read_text()
        assert (tmp_path / "patchcore_edge" / "v1" / name).read_text() == checked_in, (
            f"stubs/python/patchcore_edge/v1/{name} differs from what `make proto` generates: run make proto"
        )


@pytest.fixture
def user_stubs(tmp_path):
    """The message module a user generates with `grpc_tools.protoc -Iprotos` into a folder of their own.

    protoc names it `patchcore.edge.v1.inspection_pb2`, but in this process `patchcore` is the engine package,
    which would shadow the user's folder: the module is loaded from its file under another name instead. The
    name does not matter to protobuf; the descriptor pool sees the file name inside the module."""
    protoc(f"-I{REPO / 'protos'}", f"--python_out={tmp_path}", CONTRACT_FILE)
    path = tmp_path / "patchcore" / "edge" / "v1" / "inspection_pb2.py"
    spec = importlib.util.spec_from_file_location("users_inspection_pb2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stubs_a_user_generates_from_protos_load_beside_patchcore_client(user_stubs):
    assert user_stubs.DESCRIPTOR.name == pb.DESCRIPTOR.name == CONTRACT_FILE
    request = user_stubs.InspectRequest(
        product_id="flange", frame_id=7, heatmap=user_stubs.HEATMAP_FORMAT_PNG
    )
    parsed = pb.InspectRequest.FromString(request.SerializeToString())
    assert (parsed.product_id, parsed.frame_id, parsed.heatmap) == ("flange", 7, pb.HEATMAP_FORMAT_PNG)
