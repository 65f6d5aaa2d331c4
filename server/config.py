"""Server settings from command-line flags, each with a PATCHCORE_* environment variable as its default.

A flag given on the command line wins over the environment, which wins over the built-in default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    model: Path
    store: Path
    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 8002
    token: str = field(default="", repr=False)  # an admin token (kept for older setups; see auth.py)
    tokens_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    max_message_bytes: int = 64 * MIB
    max_image_pixels: int = 50_000_000
    max_batch: int = 8
    max_wait_ms: float = 2.0
    queue_size: int = 256
    stream_window: int = 16
    grpc_threads: int = 32
    intra_op_threads: int = 0
    grace_seconds: float = 10.0
    log_level: str = "info"
    log_json: bool = True


def _env(name: str, default: object, parse: Callable[[str], object] = str) -> object:
    """The value of environment variable PATCHCORE_<name> parsed with `parse`, or `default` when unset."""
    raw = os.environ.get(f"PATCHCORE_{name}")
    return default if raw in (None, "") else parse(raw)


def _parse_bool(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="patchcore-edge inspection server: teach products with good images, then stream frames "
        "and get anomaly scores, verdicts and heatmaps over gRPC.",
        epilog="Every flag can also be set by the environment variable named in brackets; "
        "a flag on the command line wins.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = ServerConfig(model=Path(), store=Path())

    model = parser.add_argument_group("model and products")
    model.add_argument(
        "--model",
        type=Path,
        default=_env("MODEL", None, Path),
        required=_env("MODEL", None) is None,
        help="ONNX model exported by `make export` [PATCHCORE_MODEL]",
    )
    model.add_argument(
        "--store",
        type=Path,
        default=_env("STORE", Path("store"), Path),
        help="product store directory, one folder per product [PATCHCORE_STORE]",
    )

    net = parser.add_argument_group("network")
    net.add_argument("--host", default=_env("HOST", d.host), help="address to bind [PATCHCORE_HOST]")
    net.add_argument("--port", type=int, default=_env("PORT", d.port, int), help="gRPC port [PATCHCORE_PORT]")
    net.add_argument(
        "--metrics-port",
        type=int,
        default=_env("METRICS_PORT", d.metrics_port, int),
        help="Prometheus metrics port on the same host; 0 = no metrics [PATCHCORE_METRICS_PORT]",
    )

    security = parser.add_argument_group(
        "security",
        "With any token configured, every call except health and reflection must send "
        "`authorization: Bearer <token>`. An `inspect` token may call Inspect, InspectStream, GetProduct, "
        "ListProducts and GetServerInfo; an `admin` token may call everything. Tokens also come from "
        "PATCHCORE_ADMIN_TOKEN and PATCHCORE_INSPECT_TOKEN (preferred over flags: a command line is "
        "visible to every user of the machine).",
    )
    security.add_argument(
        "--tokens-file",
        type=Path,
        default=_env("TOKENS_FILE", None, Path),
        help="file of `role token` lines (role: admin or inspect; # starts a comment) "
        "[PATCHCORE_TOKENS_FILE]",
    )
    security.add_argument(
        "--token",
        default=_env("TOKEN", d.token),
        help="one admin token [PATCHCORE_TOKEN]",
    )
    security.add_argument(
        "--tls-cert",
        type=Path,
        default=_env("TLS_CERT", None, Path),
        help="PEM server certificate (chain); with --tls-key, the port speaks TLS [PATCHCORE_TLS_CERT]",
    )
    security.add_argument(
        "--tls-key",
        type=Path,
        default=_env("TLS_KEY", None, Path),
        help="PEM private key [PATCHCORE_TLS_KEY]",
    )
    security.add_argument(
        "--tls-client-ca",
        type=Path,
        default=_env("TLS_CLIENT_CA", None, Path),
        help="PEM CA bundle; clients must present a certificate it signed (mutual TLS) "
        "[PATCHCORE_TLS_CLIENT_CA]",
    )

    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-message-bytes",
        type=int,
        default=_env("MAX_MESSAGE_BYTES", d.max_message_bytes, int),
        help="largest gRPC message sent or received [PATCHCORE_MAX_MESSAGE_BYTES]",
    )
    limits.add_argument(
        "--max-image-pixels",
        type=int,
        default=_env("MAX_IMAGE_PIXELS", d.max_image_pixels, int),
        help="largest image accepted, width * height [PATCHCORE_MAX_IMAGE_PIXELS]",
    )

    perf = parser.add_argument_group("batching and threads")
    perf.add_argument(
        "--max-batch",
        type=int,
        default=_env("MAX_BATCH", d.max_batch, int),
        help="most frames sent to the model at once [PATCHCORE_MAX_BATCH]",
    )
    perf.add_argument(
        "--max-wait-ms",
        type=float,
        default=_env("MAX_WAIT_MS", d.max_wait_ms, float),
        help="longest a frame waits for others to fill a batch [PATCHCORE_MAX_WAIT_MS]",
    )
    perf.add_argument(
        "--queue-size",
        type=int,
        default=_env("QUEUE_SIZE", d.queue_size, int),
        help="frames waiting for the model before new ones get RESOURCE_EXHAUSTED [PATCHCORE_QUEUE_SIZE]",
    )
    perf.add_argument(
        "--stream-window",
        type=int,
        default=_env("STREAM_WINDOW", d.stream_window, int),
        help="frames in flight per stream; beyond it gRPC flow control holds the sender back "
        "[PATCHCORE_STREAM_WINDOW]",
    )
    perf.add_argument(
        "--grpc-threads",
        type=int,
        default=_env("GRPC_THREADS", d.grpc_threads, int),
        help="concurrent calls served (each open stream holds one) [PATCHCORE_GRPC_THREADS]",
    )
    perf.add_argument(
        "--intra-op-threads",
        type=int,
        default=_env("INTRA_OP_THREADS", d.intra_op_threads, int),
        help="ONNX Runtime threads per inference; 0 = one per core [PATCHCORE_INTRA_OP_THREADS]",
    )

    ops = parser.add_argument_group("operation")
    ops.add_argument(
        "--grace-seconds",
        type=float,
        default=_env("GRACE_SECONDS", d.grace_seconds, float),
        help="on SIGTERM, how long in-flight calls may take to finish [PATCHCORE_GRACE_SECONDS]",
    )
    ops.add_argument(
        "--log-level",
        default=_env("LOG_LEVEL", d.log_level),
        choices=["debug", "info", "warning", "error"],
        help="[PATCHCORE_LOG_LEVEL]",
    )
    ops.add_argument(
        "--log-json",
        action=argparse.BooleanOptionalAction,
        default=_env("LOG_JSON", d.log_json, _parse_bool),
        help="one JSON object per log line; --no-log-json for plain text [PATCHCORE_LOG_JSON]",
    )
    return parser


def parse_config(argv: Sequence[str] | None = None) -> ServerConfig:
    """The server settings from `argv` (default: sys.argv) and the environment; exits with usage on errors."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = ServerConfig(**vars(args))
    for name in (
        "max_message_bytes",
        "max_image_pixels",
        "max_batch",
        "queue_size",
        "stream_window",
        "grpc_threads",
    ):
        if getattr(config, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be 1 or more")
    if config.max_wait_ms < 0 or config.grace_seconds < 0:
        parser.error("--max-wait-ms and --grace-seconds must not be negative")
    return config
