"""The operator's page speaks the gRPC port's TLS: the same certificate, and client certificates with
--tls-client-ca."""

import json
import ssl
import urllib.error
import urllib.request

import grpc
import pytest
from certificates import CertificateAuthority
from reliability_support import start_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    line_ca = CertificateAuthority(tmp_path_factory.mktemp("web-pki"), "line-ca")
    return {
        "ca": line_ca,
        "server": line_ca.issue("server", server=True),
        "client": line_ca.issue("client", False),
    }


def _session(url: str, context: ssl.SSLContext | None) -> dict:
    with urllib.request.urlopen(f"{url}api/session", context=context, timeout=30) as response:
        return json.loads(response.read())


def _trusting(pki, client_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"].issued.cert_path)
    if client_certificate:
        context.load_cert_chain(pki["client"].cert_path, pki["client"].key_path)
    return context


@pytest.mark.parametrize("mutual", [False, True])
def test_the_page_is_served_over_the_servers_tls(tiny_model, pki, tmp_path, mutual):
    server_certificate = pki["server"]
    flags = ["--tls-cert", str(server_certificate.cert_path), "--tls-key", str(server_certificate.key_path)]
    client = pki["client"]
    if mutual:
        flags += ["--tls-client-ca", str(pki["ca"].issued.cert_path)]
        credentials = grpc.ssl_channel_credentials(pki["ca"].issued.cert_pem, client.key_pem, client.cert_pem)
    else:
        credentials = grpc.ssl_channel_credentials(pki["ca"].issued.cert_pem)
    with start_server(
        tiny_model, tmp_path / "store", tmp_path, *flags, credentials=credentials, web=True
    ) as server:
        assert server.page_url.startswith("https://")
        assert _session(server.page_url, _trusting(pki, client_certificate=mutual)) == {"role": "admin"}
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP gets no answer
            _session(server.page_url.replace("https://", "http://"), None)
        if mutual:
            with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
                _session(server.page_url, _trusting(pki, client_certificate=False))
