"""The C++ project finds gRPC both ways it supports: CMake config packages (what cpp_bin builds with where the
system has them) and pkg-config."""

from __future__ import annotations

import shutil

import pytest
from native_tools import CPP_SOURCE, run


def test_pkg_config_finds_grpc_and_protobuf(cpp_toolchain, tmp_path):
    if shutil.which("pkg-config") is None or run(["pkg-config", "--exists", "grpc++", "protobuf"]).returncode:
        pytest.skip("pkg-config does not know grpc++ and protobuf on this system")

    result = run(["cmake", "-S", CPP_SOURCE, "-B", tmp_path, "-DPATCHCORE_USE_PKGCONFIG=ON"])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "found through pkg-config" in result.stdout


def test_the_examples_are_built(cpp_bin):
    for program in ("inspect_stream", "inspect_raw", "teach"):
        assert run([cpp_bin / program, "--help"]).stdout.startswith(f"usage: {program} ")
