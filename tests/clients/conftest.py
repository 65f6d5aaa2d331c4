"""Client test fixtures: a real server on a free port, a taught product, image files on disk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from patchcore_client import InspectionClient
from patchcore_client.local_server import LocalServer
from patchcore_client.synthetic import defective_part, good_part


@dataclass(frozen=True)
class PartFiles:
    teach: Path  # folder of 8 good parts
    good: list[Path]
    defective: list[Path]


def write_png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="session")
def client_server(lite0_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    folder = tmp_path_factory.mktemp("client_server")
    with LocalServer(lite0_model, folder / "store", log_path=folder / "server.log") as server:
        yield server


@pytest.fixture(scope="session")
def client(client_server: LocalServer) -> Iterator[InspectionClient]:
    with InspectionClient(client_server.target, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def part_files(tmp_path_factory: pytest.TempPathFactory) -> PartFiles:
    folder = tmp_path_factory.mktemp("parts")
    rng = np.random.default_rng(30)
    (folder / "teach").mkdir()
    for index in range(8):
        write_png(folder / "teach" / f"good_{index}.png", good_part(rng))
    good = [write_png(folder / f"good_{index}.png", good_part(rng)) for index in range(3)]
    defective = [write_png(folder / f"{kind}.png", defective_part(rng, kind)) for kind in ("scratch", "spot")]
    return PartFiles(teach=folder / "teach", good=good, defective=defective)
