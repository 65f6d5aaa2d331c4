"""What to do about a call's error, where this client can tell."""

from __future__ import annotations

import argparse

import grpc

SENT_TOO_LARGE = "CLIENT: Sent message larger than max"  # how grpcio refuses to send a message over the limit
SOCKET_CLOSED = ": Socket closed"  # how gRPC core ends the details of a connection the server closed at once


def advice(error: grpc.RpcError, args: argparse.Namespace) -> str:
    """What to do about an error this client raised itself before sending, or about a connection the server
    closed during its TLS handshake ("" for others)."""
    details = error.details() or ""
    if details.startswith(SENT_TOO_LARGE):
        return (
            " bytes, this client's --max-message-bytes: give a larger one here and to the server, or send "
            "fewer images per call (teach some, then add-images the others)"
        )
    if error.code() == grpc.StatusCode.UNAVAILABLE and details.endswith(SOCKET_CLOSED):
        if args.ca_cert is None and args.client_cert is None:
            return (
                "; the server closed the connection: a server with TLS closes plaintext ones (give --ca-cert)"
            )
        if args.client_cert is None:
            return (
                "; the server closed the connection: a server that requires client certificates closes "
                "connections without one (give --client-cert and --client-key)"
            )
    return ""
