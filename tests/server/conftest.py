"""Server integration fixtures: the real server (`python -m server`) as a child process on free ports, with
the EfficientNet-Lite0 model and a store that already holds two unusable products; the generated stubs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from patchcore_client.local_server import LocalServer
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc
from server_helpers import MAX_MESSAGE_BYTES, PRODUCT, teach_request, write_unusable_products

from patchcore.model import read_model_info


@pytest.fixture(scope="session")
def served(lite0_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    folder = tmp_path_factory.mktemp("server")
    write_unusable_products(folder / "store", dim=read_model_info(lite0_model).dim)
    extra = ["--max-message-bytes", str(MAX_MESSAGE_BYTES), "--log-level", "debug"]
    with LocalServer(lite0_model, folder / "store", extra, log_path=folder / "server.log") as server:
        yield server


@pytest.fixture(scope="session")
def channel(served: LocalServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.target) as channel:
        yield channel


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> inspection_pb2_grpc.InspectionServiceStub:
    return inspection_pb2_grpc.InspectionServiceStub(channel)


@pytest.fixture(scope="session")
def taught(stub: inspection_pb2_grpc.InspectionServiceStub) -> pb.Product:
    """PRODUCT taught from 8 generated good parts."""
    return stub.Teach(teach_request(PRODUCT, seed=1))
