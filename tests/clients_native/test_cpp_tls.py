"""The C++ examples against a line PC's server secured as deploy/patchcore-edge.env suggests: TLS with client
certificates (mutual TLS) and tokens with roles. `--ca-cert`, `--client-cert`, `--client-key` (or
PATCHCORE_CA_CERT, PATCHCORE_CLIENT_CERT, PATCHCORE_CLIENT_KEY, as patchcore-client reads them) connect with
TLS; a wrong CA or a missing client certificate fails the call (exit 1), a file that cannot be read or a
certificate without its key is a bad command line (exit 2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from certificates import CertificateAuthority
from native_tools import parse_lines, run
from patchcore_client.local_server import LocalServer

ADMIN_TOKEN = "line-3-admin"
INSPECT_TOKEN = "line-3-camera"
PRODUCT = "flange-tls"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The line's CA with the server's and a camera station's certificate, and a stranger's CA."""
    folder = tmp_path_factory.mktemp("pki")
    line_ca = CertificateAuthority(folder, "line-ca")
    server = line_ca.issue("server", server=True)
    camera = line_ca.issue("camera", server=False)
    return {
        "ca": line_ca.issued.cert_path,
        "server_cert": server.cert_path,
        "server_key": server.key_path,
        "camera_cert": camera.cert_path,
        "camera_key": camera.key_path,
        "stranger_ca": CertificateAuthority(folder, "stranger-ca").issued.cert_path,
    }


@pytest.fixture(scope="module")
def secured_server(lite0_model, pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    folder = tmp_path_factory.mktemp("secured_server")
    tokens = folder / "tokens"
    tokens.write_text(f"admin {ADMIN_TOKEN}\ninspect {INSPECT_TOKEN}\n")
    args = [
        "--tokens-file",
        str(tokens),
        "--tls-cert",
        str(pki["server_cert"]),
        "--tls-key",
        str(pki["server_key"]),
    ]
    args += ["--tls-client-ca", str(pki["ca"])]
    credentials = grpc.ssl_channel_credentials(
        pki["ca"].read_bytes(), pki["camera_key"].read_bytes(), pki["camera_cert"].read_bytes()
    )
    with LocalServer(
        lite0_model, folder / "store", args, folder / "server.log", credentials=credentials
    ) as server:
        yield server


def tls_flags(pki: dict[str, Path], ca: str = "ca") -> list[str | Path]:
    return ["--ca-cert", pki[ca], "--client-cert", pki["camera_cert"], "--client-key", pki["camera_key"]]


@pytest.fixture(scope="module")
def taught(cpp_bin, secured_server, pki, part_images) -> None:
    teach = [cpp_bin / "teach", "--target", secured_server.target, "--product", PRODUCT, *tls_flags(pki)]
    result = run([*teach, "--token", ADMIN_TOKEN, "--deadline-ms", "120000", *part_images.teach])
    assert result.returncode == 0, result.stderr


def inspect(cpp_bin: Path, server: LocalServer, *args: str | Path, env: dict[str, str] | None = None):
    command = [
        cpp_bin / "inspect_stream",
        "--target",
        server.target,
        "--product",
        PRODUCT,
        "--deadline-ms",
        "60000",
    ]
    return run([*command, *args], env=env)


def test_teach_and_inspect_over_mutual_tls_with_tokens(cpp_bin, secured_server, pki, part_images, taught):
    frames = [part_images.good[0], part_images.defective[0]]

    result = inspect(cpp_bin, secured_server, *tls_flags(pki), "--token", INSPECT_TOKEN, *frames)

    assert result.returncode == 0, result.stderr
    assert [verdict for _, _, verdict in parse_lines(result.stdout)] == ["OK", "NG"]


def test_the_certificates_come_from_the_variables_patchcore_client_reads(
    cpp_bin, secured_server, pki, part_images, taught
):
    env = {
        "PATCHCORE_CA_CERT": str(pki["ca"]),
        "PATCHCORE_CLIENT_CERT": str(pki["camera_cert"]),
        "PATCHCORE_CLIENT_KEY": str(pki["camera_key"]),
        "PATCHCORE_TOKEN": INSPECT_TOKEN,
    }

    result = inspect(cpp_bin, secured_server, part_images.good[1], env=env)

    assert result.returncode == 0, result.stderr
    assert [verdict for _, _, verdict in parse_lines(result.stdout)] == ["OK"]


def test_an_inspect_token_cannot_teach(cpp_bin, secured_server, pki, part_images):
    teach = [
        cpp_bin / "teach",
        "--target",
        secured_server.target,
        "--product",
        "flange-tls-2",
        *tls_flags(pki),
    ]

    result = run([*teach, "--token", INSPECT_TOKEN, *part_images.teach])

    assert result.returncode == 1
    assert "PERMISSION_DENIED: Teach needs a token with the admin role" in result.stderr


@pytest.mark.parametrize(
    "flags",
    [
        ["--token", INSPECT_TOKEN],
        ["--ca-cert", "stranger_ca", "--token", INSPECT_TOKEN],
        ["--ca-cert", "ca", "--token", INSPECT_TOKEN],
    ],
    ids=["plaintext", "untrusted server", "no client certificate"],
)
def test_a_connection_the_server_or_the_client_refuses_fails(
    cpp_bin, secured_server, pki, part_images, flags
):
    args = [pki.get(flag, flag) for flag in flags]

    result = inspect(cpp_bin, secured_server, *args, part_images.good[0], env={"PATCHCORE_TOKEN": ""})

    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr
    assert result.stdout == ""


def test_a_certificate_file_that_cannot_be_read_is_a_bad_command_line(
    cpp_bin, secured_server, part_images, tmp_path
):
    missing = tmp_path / "ca.crt"

    result = inspect(cpp_bin, secured_server, "--ca-cert", missing, part_images.good[0])

    assert result.returncode == 2
    assert f"cannot read {missing}" in result.stderr


def test_a_client_certificate_without_its_key_is_a_bad_command_line(
    cpp_bin, secured_server, pki, part_images
):
    result = inspect(
        cpp_bin,
        secured_server,
        "--ca-cert",
        pki["ca"],
        "--client-cert",
        pki["camera_cert"],
        part_images.good[0],
    )

    assert result.returncode == 2
    assert "give both --client-cert and --client-key" in result.stderr
