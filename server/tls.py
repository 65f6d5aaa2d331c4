"""TLS for the gRPC port and the web page's: a server certificate, optionally with client certificates
required (mutual TLS).

Without a certificate the port is plaintext, which is fine on 127.0.0.1 (the default bind) but exposes frames
and tokens on any other address; the server then logs a warning at start.

The files are checked before gRPC gets them: gRPC only fails to bind with a file it cannot use, which reads
as a taken port. A server certificate that has expired or is not valid yet stops the server (every client
would refuse it), one that expires within EXPIRY_WARNING_DAYS is logged as a warning at start.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from datetime import datetime, timezone
from pathlib import Path

import grpc
from cryptography import x509

from server.errors import ConfigError
from server.logs import log_event

EXPIRY_WARNING_DAYS = 30
_PEM_FAULTS = {"NO_START_LINE", "PEM_LIB", "BAD_BASE64_DECODE", "BAD_END_LINE", "UNSUPPORTED"}


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read the {what} {path}: {error.strerror or error}") from error


def server_credentials(
    cert: Path | None, key: Path | None, client_ca: Path | None = None
) -> grpc.ServerCredentials | None:
    """Credentials for add_secure_port, None for plaintext (no certificate given).

    cert, key: PEM server certificate chain and its private key. client_ca: PEM CA bundle; when given, every
    client must present a certificate it signed (mutual TLS). ConfigError when only part is given or a file
    cannot be read.
    """
    if cert is None and key is None:
        if client_ca is not None:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
        return None
    if cert is None or key is None:
        raise ConfigError("give both --tls-cert and --tls-key, or neither")
    pair = (_read(key, "TLS private key"), _read(cert, "TLS certificate"))
    _check_certificate_and_key(cert, key)
    if client_ca is None:
        return grpc.ssl_server_credentials([pair])
    roots = _read(client_ca, "client CA bundle")
    _check_client_ca(client_ca)
    return grpc.ssl_server_credentials([pair], root_certificates=roots, require_client_auth=True)


def certificate_validity(cert: Path) -> tuple[datetime, datetime]:
    """notBefore and notAfter (UTC) of the first certificate in the PEM file `cert`; ConfigError when the
    file holds none."""
    try:
        certificate = x509.load_pem_x509_certificate(_read(cert, "TLS certificate"))
    except ValueError as error:
        raise ConfigError(f"the TLS certificate {cert} holds no PEM certificate") from error
    return certificate.not_valid_before_utc, certificate.not_valid_after_utc


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _check_certificate_and_key(cert: Path, key: Path) -> None:
    not_before, not_after = certificate_validity(cert)
    now = datetime.now(timezone.utc)
    if now > not_after:
        raise ConfigError(
            f"the TLS certificate {cert} expired on {_utc(not_after)}: clients refuse it; "
            "install a renewed one"
        )
    if now < not_before:
        raise ConfigError(
            f"the TLS certificate {cert} is valid from {_utc(not_before)}: clients refuse it until then "
            "(or check this PC's clock)"
        )

    def encrypted() -> bytes:  # instead of OpenSSL's passphrase prompt on the terminal
        raise ConfigError(f"the TLS private key {key} is encrypted; gRPC needs it without a passphrase")

    try:
        _permissive_context().load_cert_chain(cert, key, password=encrypted)
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(
                f"the TLS private key {key} does not belong to the certificate {cert}"
            ) from error
        if error.reason is None or error.reason in _PEM_FAULTS:
            raise ConfigError(f"the TLS private key {key} is not a PEM private key") from error
        raise ConfigError(
            f"the TLS certificate {cert} or key {key} cannot be used: {error.reason}"
        ) from error


def _permissive_context() -> ssl.SSLContext:
    """A context that checks only that the files parse and belong together: OpenSSL's security level would
    refuse what gRPC serves (a 1024-bit RSA key, a SHA-1 signature of an older line PC's certificate)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _check_client_ca(client_ca: Path) -> None:
    try:
        _permissive_context().load_verify_locations(client_ca)
    except ssl.SSLError as error:
        raise ConfigError(f"the client CA bundle {client_ca} holds no PEM certificate") from error


def warn_if_expiring(cert: Path) -> None:
    """Logs a warning when the server certificate `cert` expires within EXPIRY_WARNING_DAYS: clients will
    then refuse every connection while the server looks healthy."""
    _, not_after = certificate_validity(cert)
    left = not_after - datetime.now(timezone.utc)
    if left.days < EXPIRY_WARNING_DAYS:
        log_event(
            "tls_certificate_expires_soon",
            level=logging.WARNING,
            certificate=str(cert),
            not_after=_utc(not_after),
            days_left=left.days,
        )


def ssl_context(cert: Path | None, key: Path | None, client_ca: Path | None = None) -> ssl.SSLContext | None:
    """The same TLS as server_credentials, for the web page's port; None for plaintext."""
    if server_credentials(cert, key, client_ca) is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"the web page cannot use the TLS certificate, key or client CA: {error}"
        ) from error
    return context


def tls_mode(cert: Path | None, client_ca: Path | None) -> str:
    """ "off", "server" (TLS) or "mutual" (TLS with client certificates), for logs."""
    if cert is None:
        return "off"
    return "mutual" if client_ca is not None else "server"


def is_loopback(host: str) -> bool:
    """True when `host` (a name, or an address, IPv6 with or without brackets) is this machine's loopback:
    a server there only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or a wildcard: assume reachable from the network


def warn_if_exposed(host: str, tls: bool) -> None:
    """Logs a warning when a plaintext port listens on an address other machines can reach."""
    if not tls and not is_loopback(host):
        log_event(
            "plaintext_on_network",
            level=logging.WARNING,
            host=host,
            advice="frames and tokens travel unencrypted: set --tls-cert and --tls-key, or bind 127.0.0.1",
        )
