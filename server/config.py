"""Server settings from command-line flags, each with a PATCHCORE_* environment variable as its default.

A flag given on the command line wins over the environment, which wins over the built-in default.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

MIB = 1024 * 1024
_BUCKET_NAME = re.compile(r"[a-zA-Z0-9_-]+")  # JetStream bucket names
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")  # as a browser sends it in Host, lower case
_C_INT_MAX = 2**31 - 1  # grpcio's channel options and ONNX Runtime's thread counts are C ints

# The lowest and highest value of each numeric setting; infinity and NaN are refused whatever the range.
_RANGES: dict[str, tuple[float, float]] = {
    "port": (0, 65_535),
    "metrics_port": (0, 65_535),
    "web_port": (0, 65_535),
    "max_message_bytes": (1, _C_INT_MAX),
    "max_streams_per_connection": (1, _C_INT_MAX),
    "intra_op_threads": (0, _C_INT_MAX),
    "decode_threads": (0, math.inf),
    "max_image_pixels": (1, math.inf),
    "max_teach_images": (1, math.inf),
    "max_batch": (1, math.inf),
    "model_workers": (1, math.inf),
    "queue_size": (1, math.inf),
    "stream_window": (1, math.inf),
    "max_calls": (1, math.inf),
    "max_wait_ms": (0, threading.TIMEOUT_MAX * 1000),  # longer waits overflow the batcher's Condition.wait
    "grace_seconds": (0, threading.TIMEOUT_MAX),
    "stream_idle_seconds": (0, threading.TIMEOUT_MAX),
}


@dataclass(frozen=True)
class ServerConfig:
    model: Path
    store: Path
    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 8002
    web_port: int = 0
    page_allowed_hosts: tuple[str, ...] = ()  # names the page answers to beyond its addresses; "*" = any
    token: str = field(default="", repr=False)  # an admin token (kept for older setups; see auth.py)
    tokens_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    fleet_store: str = ""  # nats:// or tls:// URL of the fleet's NATS server; "" = this server on its own
    fleet_creds: Path | None = None
    fleet_bucket: str = "patchcore"
    max_message_bytes: int = 64 * MIB
    max_image_pixels: int = 50_000_000
    max_teach_images: int = 256
    max_batch: int = 1
    max_wait_ms: float = 0.0  # batches form from frames that queued during the last model run
    queue_size: int = 256
    stream_window: int = 16
    max_calls: int = 1024
    max_streams_per_connection: int = 128
    stream_idle_seconds: float = 0.0  # 0 = never
    decode_threads: int = 0  # 0 = one per core
    intra_op_threads: int = 0
    model_workers: int = 2
    grace_seconds: float = 10.0
    log_level: str = "info"
    log_json: bool = True

    def onnx_threads(self) -> int:
        """ONNX Runtime's intra-op threads for a model run that has the cores to itself: as set, else one
        per core."""
        return self.intra_op_threads or os.cpu_count() or 1

    def onnx_threads_beside(self) -> int:
        """Intra-op threads for a model run that starts while another is in flight: a model worker's share
        of onnx_threads()."""
        return max(1, self.onnx_threads() // self.model_workers)


@dataclass(frozen=True)
class _FromEnvironment:
    """A flag's default as its PATCHCORE_* variable gives it, parsed only when the command line does not set
    the flag: a bad value there is then a usage error naming the variable, not a traceback."""

    variable: str
    raw: str
    parse: Callable[[str], object]
    choices: Sequence[object] | None = None

    def __str__(self) -> str:  # as --help shows the default
        return self.raw

    def value(self) -> object:
        """The parsed value; ValueError naming the variable when the flag would not take it."""
        try:
            value = self.parse(self.raw)
        except argparse.ArgumentTypeError as error:
            raise ValueError(f"{self.variable}: {error}") from None
        except (TypeError, ValueError):
            kind = getattr(self.parse, "__name__", "")
            raise ValueError(f"{self.variable}: invalid {kind} value: {self.raw!r}") from None
        if self.choices is not None and value not in self.choices:
            choices = ", ".join(map(str, self.choices))
            raise ValueError(f"{self.variable}: invalid choice: {self.raw!r} (choose from {choices})")
        return value


def host_port(host: str, port: int) -> str:
    """`host:port`, an IPv6 address in brackets ("[::1]:50051"), as gRPC targets and URLs take it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _env(
    name: str,
    default: object,
    parse: Callable[[str], object] = str,
    choices: Sequence[object] | None = None,
) -> object:
    """The default of a flag: environment variable PATCHCORE_<name>, to be parsed with `parse`, or
    `default` when unset."""
    raw = os.environ.get(f"PATCHCORE_{name}")
    return default if raw in (None, "") else _FromEnvironment(f"PATCHCORE_{name}", raw, parse, choices)


def boolean(raw: str) -> bool:
    """An environment variable's yes or no; anything else (a typo such as "flase") is a ValueError."""
    word = raw.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def host_names(raw: str) -> tuple[str, ...]:
    """The names of `--page-allowed-hosts NAME[,NAME...]`, in lower case and without a final dot; `*` for
    any name; "" for none. ArgumentTypeError telling what is wrong with a name."""
    names = tuple(name.strip().lower().removesuffix(".") for name in raw.split(","))
    if names == ("",):
        return ()
    for name in names:
        if name == "*":
            continue
        if not name:
            raise argparse.ArgumentTypeError(
                f"an empty name in {raw!r}: give names separated by commas, e.g. line-pc-3,line-pc-3.plant"
            )
        if "/" in name or ":" in name:
            raise argparse.ArgumentTypeError(
                f"{name!r}: give the name alone, as in line-pc-3.plant, without http:// or a port"
            )
        if not _HOST_NAME.fullmatch(name):
            raise argparse.ArgumentTypeError(
                f"{name!r} is not a host name: letters, digits, '-', '_' and dots between them"
            )
    return names


def _add(
    group: argparse._ArgumentGroup,
    flag: str,
    help: str,
    parse: Callable[[str], object] = str,
    default: object = None,
    **extra: object,
) -> None:
    """Adds `flag` whose default comes from PATCHCORE_<FLAG NAME> (e.g. --max-batch: PATCHCORE_MAX_BATCH)."""
    name = flag.removeprefix("--").replace("-", "_").upper()
    if "action" not in extra:
        extra["type"] = parse
    # A required flag shows no "(default: None)" in --help.
    value = argparse.SUPPRESS if extra.get("required") else _env(name, default, parse, extra.get("choices"))
    group.add_argument(flag, default=value, help=f"{help} [PATCHCORE_{name}]", **extra)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default only where it has one: no "(default: None)" or "(default: )"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default in (None, "") else super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="patchcore-edge inspection server: teach products with good images, then stream frames "
        "and get anomaly scores, verdicts and heatmaps over gRPC.",
        epilog="Every flag can also be set by the environment variable named in brackets; "
        "a flag on the command line wins.",
        formatter_class=_HelpFormatter,
    )
    d = ServerConfig(model=Path(), store=Path())

    model = parser.add_argument_group("model and products")
    model_required = not os.environ.get("PATCHCORE_MODEL")
    _add(model, "--model", "ONNX model exported by `make export`", Path, required=model_required)
    _add(
        model,
        "--store",
        "product store directory, one folder per product (with --fleet-store: this server's copy)",
        Path,
        Path("store"),
    )

    fleet = parser.add_argument_group(
        "fleet",
        "Servers given the same --fleet-store serve the same products: a product taught, changed or deleted "
        "on one is stored in the fleet's NATS JetStream and reaches the others within seconds. While the "
        "store is unreachable a server goes on inspecting from its --store folder, and Teach, AddImages, "
        "UpdateProduct and DeleteProduct get UNAVAILABLE.",
    )
    _add(fleet, "--fleet-store", "NATS server of the fleet, nats://HOST:PORT or tls://HOST:PORT", str, "")
    _add(fleet, "--fleet-creds", "NATS credentials file (user JWT and NKey seed) for the fleet store", Path)
    _add(fleet, "--fleet-bucket", "the fleet's Key-Value bucket and Object Store", str, d.fleet_bucket)

    net = parser.add_argument_group("network")
    _add(net, "--host", "address to bind", str, d.host)
    _add(net, "--port", "gRPC port", int, d.port)
    _add(
        net, "--metrics-port", "Prometheus metrics port on the same host; 0 = no metrics", int, d.metrics_port
    )
    _add(
        net,
        "--web-port",
        "operator's web page (products, live frames, threshold) on the same host, with the gRPC port's TLS "
        "and tokens; 0 = no page",
        int,
        d.web_port,
    )
    _add(
        net,
        "--page-allowed-hosts",
        "names the operator's page may be opened at, beside localhost and the server's IP addresses (on the "
        "loopback, its loopback addresses); other names are refused: a malicious site sends its own to use "
        "the page from the operator's browser (DNS rebinding); * = any name",
        host_names,
        "",
        metavar="NAME[,NAME...]",
    )

    security = parser.add_argument_group(
        "security",
        "With any token configured, every call except health and reflection must send "
        "`authorization: Bearer <token>`. An `inspect` token may call Inspect, InspectStream, GetProduct, "
        "ListProducts and GetServerInfo; an `admin` token may call everything. Tokens also come from "
        "PATCHCORE_ADMIN_TOKEN and PATCHCORE_INSPECT_TOKEN (preferred over flags: a command line is "
        "visible to every user of the machine).",
    )
    _add(
        security,
        "--tokens-file",
        "file of `role token` lines (role: admin or inspect; a line starting with # is a comment)",
        Path,
    )
    _add(security, "--token", "one admin token", str, d.token)
    _add(security, "--tls-cert", "PEM server certificate (chain); with --tls-key, the port speaks TLS", Path)
    _add(security, "--tls-key", "PEM private key", Path)
    _add(
        security,
        "--tls-client-ca",
        "PEM CA bundle; clients must present a certificate it signed (mutual TLS)",
        Path,
    )

    limits = parser.add_argument_group("limits")
    _add(
        limits,
        "--max-message-bytes",
        "largest gRPC message sent or received (at most 2147483647)",
        int,
        d.max_message_bytes,
    )
    _add(limits, "--max-image-pixels", "largest image accepted, width * height", int, d.max_image_pixels)
    _add(
        limits,
        "--max-teach-images",
        "most images in one Teach (each is held at the model's size while the bank is built)",
        int,
        d.max_teach_images,
    )

    perf = parser.add_argument_group("batching and threads")
    _add(
        perf,
        "--max-batch",
        "most model inputs in one model run (a tiled frame's tiles go together); 1 = a run per frame",
        int,
        d.max_batch,
    )
    _add(perf, "--max-wait-ms", "longest a frame waits for others to fill a batch", float, d.max_wait_ms)
    _add(
        perf,
        "--queue-size",
        "frames waiting for the model: beyond it an Inspect gets RESOURCE_EXHAUSTED, a stream's frame waits",
        int,
        d.queue_size,
    )
    _add(
        perf,
        "--stream-window",
        "frames in flight per stream; beyond it gRPC flow control holds the sender back",
        int,
        d.stream_window,
    )
    _add(
        perf,
        "--decode-threads",
        "threads that decode and prepare frames and turn scores into verdicts, beside the model's; "
        "0 = one per core",
        int,
        d.decode_threads,
    )
    _add(
        perf,
        "--intra-op-threads",
        "ONNX Runtime's intra-op threads of a model run alone; runs beside others get their worker's share; "
        "0 = one per core",
        int,
        d.intra_op_threads,
    )
    _add(
        perf,
        "--model-workers",
        "model runs (batches) at once: a second run keeps busy the cores the first leaves idle (more "
        "frames/s under load); a run alone gets every intra-op thread, runs side by side a share each",
        int,
        d.model_workers,
    )

    calls = parser.add_argument_group(
        "calls and streams",
        "An open stream costs memory for its window, not a thread: a server holds hundreds of mostly idle "
        "camera streams. Health checks and reflection are answered whatever these limits.",
    )
    _add(
        calls,
        "--max-calls",
        "InspectionService calls open at once (each open stream is one); more get RESOURCE_EXHAUSTED",
        int,
        d.max_calls,
    )
    calls.add_argument(
        "--grpc-threads",
        dest="max_calls",
        type=int,
        default=argparse.SUPPRESS,
        help="replaced by --max-calls (streams no longer hold a thread each); still accepted as --max-calls "
        "(PATCHCORE_GRPC_THREADS is not read: use PATCHCORE_MAX_CALLS)",
    )
    _add(
        calls,
        "--max-streams-per-connection",
        "HTTP/2 streams one client connection may have open; a client asking for more waits for one to end",
        int,
        d.max_streams_per_connection,
    )
    _add(
        calls,
        "--stream-idle-seconds",
        "a stream that sent no frame for this long, with none in flight, ends with DEADLINE_EXCEEDED; "
        "0 = never (a stream then ends by its client's deadline or cancel)",
        float,
        d.stream_idle_seconds,
    )

    ops = parser.add_argument_group("operation")
    _add(
        ops,
        "--grace-seconds",
        "on SIGTERM, how long in-flight calls may take to finish",
        float,
        d.grace_seconds,
    )
    levels = ["debug", "info", "warning", "error"]
    _add(ops, "--log-level", "log detail", str.lower, d.log_level, choices=levels)
    _add(
        ops,
        "--log-json",
        "one JSON object per log line; --no-log-json for plain text",
        boolean,
        d.log_json,
        action=argparse.BooleanOptionalAction,
    )
    return parser


def parse_config(argv: Sequence[str] | None = None) -> ServerConfig:
    """The server settings from `argv` (default: sys.argv) and the environment; exits with usage on errors."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, value in vars(args).items():
        if isinstance(value, _FromEnvironment):
            try:
                setattr(args, name, value.value())
            except ValueError as error:
                parser.error(str(error))
    config = ServerConfig(**vars(args))
    if config.host.startswith("[") and config.host.endswith("]"):
        config = replace(config, host=config.host[1:-1])  # "[::1]": the sockets take the bare address
    for name, (low, high) in _RANGES.items():
        value = getattr(config, name)
        # NaN fails every comparison; an int too large for a float still compares exactly.
        if not low <= value <= high or value == math.inf:
            bounds = f"{low} or more" if high == math.inf else f"from {low} to {high}"
            kind = "a finite number, " if isinstance(value, float) else ""
            parser.error(f"--{name.replace('_', '-')} must be {kind}{bounds}, got {value}")
    if config.store.exists() and not config.store.is_dir():
        parser.error(f"--store {config.store}: not a directory")
    fleet_url = urlsplit(config.fleet_store)
    if config.fleet_store and (fleet_url.scheme not in ("nats", "tls") or not fleet_url.hostname):
        # Not echoed: the URL may hold a password.
        parser.error("--fleet-store must be a URL nats://HOST:PORT or tls://HOST:PORT")
    if config.fleet_creds and not config.fleet_store:
        parser.error("--fleet-creds needs --fleet-store")
    if config.fleet_creds and not config.fleet_creds.is_file():
        parser.error(f"--fleet-creds {config.fleet_creds}: no such file")
    if not _BUCKET_NAME.fullmatch(config.fleet_bucket):
        parser.error(f"--fleet-bucket must be letters, digits, '-' and '_', got {config.fleet_bucket!r}")
    return config
