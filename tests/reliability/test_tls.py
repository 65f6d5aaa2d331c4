"""TLS and mutual TLS with certificates made for the test; the plaintext warning; refused half-configs."""

import json
import logging
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from certificates import CertificateAuthority, Issued
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from patchcore_client import InspectionClient
from patchcore_client.cli import main as client_cli
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1.inspection_pb2_grpc import InspectionServiceStub
from reliability_support import log_events, start_server, wait_for_log_event

from server.errors import ConfigError
from server.stderr_relay import NATIVE_LINES_PER_WINDOW
from server.tls import is_loopback, server_credentials, warn_if_expiring, warn_if_exposed


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The line's CA with a server and a client certificate, and a stranger's CA with its own client."""
    folder = tmp_path_factory.mktemp("pki")
    line_ca = CertificateAuthority(folder, "line-ca")
    stranger_ca = CertificateAuthority(folder, "stranger-ca")
    return {
        "ca": line_ca.issued,
        "server": line_ca.issue("server", server=True),
        "client": line_ca.issue("client", server=False),
        "stranger_ca": stranger_ca.issued,
        "stranger_client": stranger_ca.issue("stranger-client", server=False),
    }


def tls_args(pki, mutual: bool) -> list[str]:
    args = ["--tls-cert", str(pki["server"].cert_path), "--tls-key", str(pki["server"].key_path)]
    return [*args, "--tls-client-ca", str(pki["ca"].cert_path)] if mutual else args


@pytest.fixture(scope="module")
def tls_server(tiny_model, pki, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca"].cert_pem)
    with start_server(
        tiny_model, folder / "store", folder, *tls_args(pki, False), credentials=credentials
    ) as s:
        yield s


@pytest.fixture(scope="module")
def mtls_server(tiny_model, pki, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mtls")
    client = pki["client"]
    credentials = grpc.ssl_channel_credentials(pki["ca"].cert_pem, client.key_pem, client.cert_pem)
    with start_server(
        tiny_model, folder / "store", folder, *tls_args(pki, True), credentials=credentials
    ) as s:
        yield s


def server_info_code(target: str, **client_options) -> grpc.StatusCode:
    with InspectionClient(target, timeout=10, **client_options) as client:
        try:
            client.server_info()
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def plaintext_attempt(target: str) -> grpc.StatusCode:
    """One plaintext call to a TLS port on a connection of its own: channels share connections (and a failed
    one's backoff, which answers UNAVAILABLE without connecting) unless each has its own subchannel pool."""
    with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        try:
            InspectionServiceStub(channel).GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def test_tls_client_trusting_the_ca_is_served(tls_server, pki):
    assert server_info_code(tls_server.target, root_certificates=pki["ca"].cert_pem) == grpc.StatusCode.OK
    wait_for_log_event(tls_server, "server_started", tls="server")


def test_a_certificate_that_expires_soon_is_logged_at_start(tls_server, pki):
    event = wait_for_log_event(tls_server, "tls_certificate_expires_soon", days_left=0)  # valid for a day
    assert event["certificate"] == str(pki["server"].cert_path)


def test_tls_refuses_plaintext_and_untrusted_certificates(tls_server, pki):
    assert server_info_code(tls_server.target) == grpc.StatusCode.UNAVAILABLE
    stranger = pki["stranger_ca"].cert_pem
    assert server_info_code(tls_server.target, root_certificates=stranger) == grpc.StatusCode.UNAVAILABLE


def wait_for_log_line(server, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log():
        assert time.monotonic() < deadline, f"the server never logged {text!r}"
        time.sleep(0.05)


def test_a_failed_handshake_is_logged_as_json_like_everything_else(tiny_model, pki, tmp_path):
    """gRPC core reports a failed handshake in plain text on stderr; in the log it is a JSON event too."""
    credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca"].cert_pem)
    env = {"GRPC_VERBOSITY": "INFO"}  # gRPC core logs failed handshakes at INFO
    server = start_server(tiny_model, tmp_path / "store", tmp_path, *tls_args(pki, False),
                          credentials=credentials, env=env)  # fmt: skip
    with server:
        assert server_info_code(server.target) == grpc.StatusCode.UNAVAILABLE  # plaintext to a TLS port
        wait_for_log_line(server, "Handshake failed")
    lines = server.log().splitlines()
    events = [json.loads(line) for line in lines]

    assert all(isinstance(event, dict) for event in events)
    handshake = next(event for event in events if "Handshake failed" in event.get("message", ""))
    assert handshake["event"] == "native_log" and handshake["source"].startswith("ssl_transport_security")
    assert events[-1]["event"] == "server_stopped"


def test_a_client_retrying_a_failed_handshake_does_not_flood_the_log(tiny_model, pki, tmp_path):
    """Each failed handshake writes gRPC core lines with no limit of its own; the relay logs at most
    NATIVE_LINES_PER_WINDOW of a kind a minute, and says how many it left out when the server stops."""
    credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca"].cert_pem)
    server = start_server(tiny_model, tmp_path / "store", tmp_path, *tls_args(pki, False),
                          credentials=credentials, env={"GRPC_VERBOSITY": "INFO"})  # fmt: skip
    attempts = 3 * NATIVE_LINES_PER_WINDOW
    with server:
        for _ in range(attempts):
            assert plaintext_attempt(server.target) == grpc.StatusCode.UNAVAILABLE
    summaries = {s["source"]: s for s in log_events(server, "native_log_suppressed")}
    logged = Counter(e["source"] for e in log_events(server, "native_log") if "source" in e)
    assert summaries, "no line was left out"
    for source, summary in summaries.items():
        assert logged[source] == NATIVE_LINES_PER_WINDOW
        assert summary["not_logged"] > 0, source
    assert any(source.startswith("ssl_transport_security") for source in summaries)


def test_mutual_tls_serves_clients_with_a_certificate_from_the_ca(mtls_server, pki):
    client = pki["client"]
    code = server_info_code(
        mtls_server.target,
        root_certificates=pki["ca"].cert_pem,
        client_certificate=client.cert_pem,
        client_key=client.key_pem,
    )
    assert code == grpc.StatusCode.OK


def test_mutual_tls_refuses_clients_without_a_certificate_or_with_a_strangers(mtls_server, pki):
    ca = pki["ca"].cert_pem
    assert server_info_code(mtls_server.target, root_certificates=ca) == grpc.StatusCode.UNAVAILABLE
    stranger = pki["stranger_client"]
    code = server_info_code(
        mtls_server.target,
        root_certificates=ca,
        client_certificate=stranger.cert_pem,
        client_key=stranger.key_pem,
    )
    assert code == grpc.StatusCode.UNAVAILABLE


def test_cli_connects_with_mutual_tls(mtls_server, pki, capsys):
    exit_code = client_cli(
        [
            "--target", mtls_server.target, "--timeout", "10",
            "--ca-cert", str(pki["ca"].cert_path),
            "--client-cert", str(pki["client"].cert_path),
            "--client-key", str(pki["client"].key_path),
            "products",
        ]
    )  # fmt: skip
    assert exit_code == 0
    assert "PRODUCT" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags",
    [
        ["--tls-cert", "{cert}"],
        ["--tls-client-ca", "{ca}"],
        ["--tls-cert", "{cert}", "--tls-key", "/nonexistent"],
        ["--tls-cert", "{key}", "--tls-key", "{cert}"],
    ],
    ids=["cert-without-key", "client-ca-without-cert", "unreadable-key", "swapped-cert-and-key"],
)
def test_incomplete_tls_settings_stop_the_server_with_a_reason(tiny_model, pki, tmp_path, flags):
    paths = {"cert": pki["server"].cert_path, "key": pki["server"].key_path, "ca": pki["ca"].cert_path}
    command = [sys.executable, "-m", "server", "--model", str(tiny_model), "--store", str(tmp_path / "store"),
               "--port", "0", "--metrics-port", "0", *(flag.format(**paths) for flag in flags)]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2
    assert "server_failed_to_start" in finished.stderr
    assert "tls" in finished.stderr.lower()


@pytest.fixture(scope="module")
def garbage(tmp_path_factory):
    path = tmp_path_factory.mktemp("garbage") / "garbage.pem"
    path.write_bytes(bytes(range(256)))
    return path


@pytest.mark.parametrize(
    ("files", "complaint"),
    [
        (("garbage", "key", None), "the TLS certificate {garbage} holds no PEM certificate"),
        (("cert", "garbage", None), "the TLS private key {garbage} is not a PEM private key"),
        (
            ("cert", "client_key", None),
            "the TLS private key {client_key} does not belong to the certificate {cert}",
        ),
        (("key", "cert", None), "the TLS certificate {key} holds no PEM certificate"),
        (("cert", "key", "garbage"), "the client CA bundle {garbage} holds no PEM certificate"),
    ],
    ids=["garbage-cert", "garbage-key", "key-of-another-cert", "swapped", "garbage-client-ca"],
)
def test_unusable_tls_files_are_named_with_their_fault(pki, garbage, files, complaint):
    paths = {
        "garbage": garbage,
        "cert": pki["server"].cert_path,
        "key": pki["server"].key_path,
        "client_key": pki["client"].key_path,
    }
    cert, key, client_ca = (paths[name] if name else None for name in files)
    with pytest.raises(ConfigError) as raised:
        server_credentials(cert, key, client_ca)
    assert complaint.format(**paths) in str(raised.value)


def server_certificate(
    folder, stem: str, not_before: datetime | None = None, not_after: datetime | None = None
) -> Issued:
    return CertificateAuthority(folder, f"{stem}-ca").issue(stem, True, not_before, not_after)


def test_an_expired_server_certificate_is_refused_with_its_end(tmp_path):
    utc = timezone.utc
    expired = server_certificate(
        tmp_path, "expired", datetime(2020, 1, 1, tzinfo=utc), datetime(2020, 2, 1, tzinfo=utc)
    )
    with pytest.raises(ConfigError) as raised:
        server_credentials(expired.cert_path, expired.key_path)
    assert f"the TLS certificate {expired.cert_path} expired on 2020-02-01 00:00:00 UTC" in str(raised.value)


def test_a_server_certificate_not_valid_yet_is_refused_with_its_start(tmp_path):
    start = datetime(2099, 1, 1, tzinfo=timezone.utc)
    early = server_certificate(tmp_path, "early", start, start + timedelta(days=365))
    with pytest.raises(ConfigError) as raised:
        server_credentials(early.cert_path, early.key_path)
    assert f"the TLS certificate {early.cert_path} is valid from 2099-01-01 00:00:00 UTC" in str(raised.value)


def test_a_server_certificate_expiring_within_30_days_is_logged_as_a_warning(tmp_path, caplog):
    now = datetime.now(timezone.utc)
    later = server_certificate(tmp_path, "later", not_after=now + timedelta(days=31))
    soon = server_certificate(tmp_path, "soon", not_after=now + timedelta(days=29))
    with caplog.at_level(logging.INFO, logger="patchcore.server"):
        warn_if_expiring(later.cert_path)
        assert not caplog.records
        warn_if_expiring(soon.cert_path)
    [record] = caplog.records
    assert (record.levelno, record.getMessage()) == (logging.WARNING, "tls_certificate_expires_soon")
    assert record.fields["days_left"] == 28  # 28 whole days and some hours


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True), ("LocalHost", True),
     ("0.0.0.0", False), ("192.168.10.5", False), ("line-pc-3", False), ("[::]", False)],
)  # fmt: skip
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_plaintext_on_a_network_address_logs_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="patchcore.server"):
        warn_if_exposed("127.0.0.1", tls=False)
        warn_if_exposed("0.0.0.0", tls=True)
        assert not caplog.records
        warn_if_exposed("0.0.0.0", tls=False)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "plaintext_on_network"


def test_a_certificate_gRPC_serves_is_not_refused_for_openssls_security_level(tmp_path):
    """An older line PC's 1024-bit RSA certificate: gRPC serves it, so the check before it must not refuse it
    (OpenSSL's default security level would, as 'key too small')."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old-line-pc")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "old.crt", tmp_path / "old.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    assert server_credentials(cert_path, key_path) is not None
