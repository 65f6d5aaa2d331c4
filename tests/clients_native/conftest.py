"""Fixtures for the native (C++ and C#) client tests: the C++ examples built with CMake, a live server on a
free port, and image files of good and defective parts on disk, as line software would read them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from native_tools import CPP_SOURCE, run
from patchcore_client.local_server import LocalServer
from patchcore_client.synthetic import defective_part, good_part

# Kept between runs (gitignored) so a second run only rebuilds what changed.
CPP_BUILD = CPP_SOURCE / "build"
CPP_TOOLS = ("cmake", "c++", "protoc", "grpc_cpp_plugin")
APT_HINT = (
    "install them with: apt-get install cmake g++ pkg-config libgrpc++-dev libprotobuf-dev "
    "protobuf-compiler protobuf-compiler-grpc"
)
GRPC_NOT_FOUND = "gRPC C++ not found"  # the message of cmake/GrpcDependencies.cmake


@dataclass(frozen=True)
class PartImages:
    """PNG files of parts, [256, 256] pixels: `good[i]` and `defective[i]` are different parts."""

    teach: list[Path]
    good: list[Path]
    defective: list[Path]


def missing_cpp_tools() -> list[str]:
    return [tool for tool in CPP_TOOLS if shutil.which(tool) is None]


@pytest.fixture(scope="session")
def cpp_toolchain() -> None:
    """Skips unless cmake, a C++ compiler, protoc and grpc_cpp_plugin are installed."""
    if missing := missing_cpp_tools():
        pytest.skip(f"C++ toolchain or gRPC missing ({', '.join(missing)} not on PATH); {APT_HINT}")


@pytest.fixture(scope="session")
def cpp_bin(cpp_toolchain: None) -> Path:
    """The folder holding the built C++ examples (inspect_stream, inspect_raw, teach)."""
    configure = run(["cmake", "-S", CPP_SOURCE, "-B", CPP_BUILD, "-DCMAKE_BUILD_TYPE=Release"])
    if configure.returncode != 0 and GRPC_NOT_FOUND in configure.stderr:
        pytest.skip(f"gRPC C++ development files missing; {APT_HINT}")
    assert configure.returncode == 0, configure.stdout + configure.stderr
    build = run(["cmake", "--build", CPP_BUILD, "--parallel", "2"])
    assert build.returncode == 0, build.stdout + build.stderr
    return CPP_BUILD


@pytest.fixture(scope="session")
def live_server(lite0_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The real server (`python -m server`) with the EfficientNet-Lite0 model and an empty store."""
    folder = tmp_path_factory.mktemp("native_clients_server")
    with LocalServer(lite0_model, folder / "store", log_path=folder / "server.log") as server:
        yield server


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="session")
def part_images(tmp_path_factory: pytest.TempPathFactory) -> PartImages:
    """8 good parts to teach with, 4 other good parts and 4 parts with a planted scratch or spot."""
    folder = tmp_path_factory.mktemp("part_images")
    rng = np.random.default_rng(7)
    teach = [_write_png(folder / f"teach_{i}.png", good_part(rng)) for i in range(8)]
    good = [_write_png(folder / f"good_{i}.png", good_part(rng)) for i in range(4)]
    kinds = ("scratch", "spot", "scratch", "spot")
    defective = [
        _write_png(folder / f"defective_{i}.png", defective_part(rng, kind)) for i, kind in enumerate(kinds)
    ]
    return PartImages(teach=teach, good=good, defective=defective)
