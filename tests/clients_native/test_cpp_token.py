"""The C++ examples against a server started with --token: the token comes from --token or PATCHCORE_TOKEN
and travels as `authorization: Bearer <token>`; without it the call is refused and the exit code says so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from native_tools import parse_lines, run
from patchcore_client.local_server import LocalServer

TOKEN = "line-7-secret"
PRODUCT = "flange-token"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def guarded_server(lite0_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    folder = tmp_path_factory.mktemp("token_server")
    with LocalServer(lite0_model, folder / "store", ["--token", TOKEN], folder / "server.log") as server:
        yield server


def test_the_token_from_the_environment_and_the_flag_is_accepted(cpp_bin, guarded_server, part_images):
    teach = [cpp_bin / "teach", "--target", guarded_server.target, "--product", PRODUCT, *part_images.teach]
    taught = run(teach, env={"PATCHCORE_TOKEN": TOKEN})
    inspect = [cpp_bin / "inspect_stream", "--target", guarded_server.target, "--product", PRODUCT]
    streamed = run([*inspect, "--token", TOKEN, part_images.good[0], part_images.defective[0]])

    assert taught.returncode == 0, taught.stderr
    assert streamed.returncode == 0, streamed.stderr
    assert [verdict for _, _, verdict in parse_lines(streamed.stdout)] == ["OK", "NG"]


@pytest.mark.parametrize("token_args", [[], ["--token", "guess"]], ids=["no token", "wrong token"])
def test_a_missing_or_wrong_token_is_refused(cpp_bin, guarded_server, part_images, token_args):
    inspect = [
        cpp_bin / "inspect_stream",
        "--target",
        guarded_server.target,
        "--product",
        PRODUCT,
        *token_args,
    ]

    result = run([*inspect, part_images.good[0]], env={"PATCHCORE_TOKEN": ""})

    assert result.returncode == 1
    assert "UNAUTHENTICATED" in result.stderr or "PERMISSION_DENIED" in result.stderr
    assert result.stdout == ""
