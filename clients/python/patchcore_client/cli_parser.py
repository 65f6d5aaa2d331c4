"""The command line of `patchcore-client`: its parser, the types of its arguments, the PEM files it names."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from patchcore_client.cli_inspect import CSV_COLUMNS, CSV_NAME, inspect
from patchcore_client.cli_queries import health, products
from patchcore_client.cli_teach import add_images, teach
from patchcore_client.client import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TARGET
from patchcore_client.help_format import HelpFormatter

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
GRPC_MESSAGE_MAX = 2**31 - 1  # gRPC's message length options are C ints


def _env_path(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value) if value else None


def read_pem(parser: argparse.ArgumentParser, flag: str, path: Path | None) -> bytes | None:
    """The bytes of the PEM file given as `flag`; a file that cannot be read is a bad command line (exit 2)
    naming the flag, the file and why, as the service's start-up probe shows it in the journal."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        parser.error(f"cannot read {flag} {path}: {error.strerror or error}")


def _unsigned(text: str, largest: int) -> int | None:
    """text as a whole number from 0 to largest, else None."""
    text = text.strip()
    return int(text) if text.isdecimal() and int(text) <= largest else None


def _whole_number(largest: int) -> Callable[[str], int]:
    """An argparse type for an option sent in a protobuf field that holds 0 to largest. Only the field's
    range: the ranges the server allows (e.g. tile_size 32..8192) are checked by the server alone."""

    def parse(text: str) -> int:
        value = _unsigned(text, largest)
        if value is None:
            raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {largest}, got {text!r}")
        return value

    return parse


def _roi(text: str) -> tuple[int, int, int, int]:
    """ "X,Y,W,H" -> (x, y, width, height) (argparse type)."""
    values = [_unsigned(part, UINT32_MAX) for part in text.split(",")]
    if len(values) != 4 or None in values:
        raise argparse.ArgumentTypeError(
            f"expected X,Y,W,H in frame pixels (4 whole numbers from 0 to {UINT32_MAX}), got {text!r}"
        )
    x, y, width, height = values
    return x, y, width, height


class _Parser(argparse.ArgumentParser):
    """Adds a hint to "expected one argument": argparse takes a value starting with "-" (--roi -5,0,10,10)
    for an option unless it is joined to its option with "="."""

    def error(self, message: str) -> NoReturn:
        option, found, _ = message.removeprefix("argument ").partition(": expected one argument")
        if found:
            message += f" (a value that starts with '-' is given as {option}=VALUE)"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="patchcore-client",
        description="Command-line client for a patchcore-edge inspection server.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--target", default=os.environ.get("PATCHCORE_TARGET", DEFAULT_TARGET),
        help="server address host:port; several servers of a fleet: ipv4:host:port,host:port or a DNS name "
        "(dns:///name:port), calls spread round robin [PATCHCORE_TARGET]",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=None, help="seconds per call; none by default")
    parser.add_argument(
        "--max-message-bytes", type=_whole_number(GRPC_MESSAGE_MAX), default=DEFAULT_MAX_MESSAGE_BYTES,
        help="largest message sent or received, as the server's flag of that name: a teach or add-images "
        "sends all its images in one message",
    )  # fmt: skip
    parser.add_argument(
        "--token", default=os.environ.get("PATCHCORE_TOKEN"), help="token, if the server requires one "
        "[PATCHCORE_TOKEN]",
    )  # fmt: skip
    parser.add_argument(
        "--ca-cert", type=Path, default=_env_path("PATCHCORE_CA_CERT"),
        help="PEM file of the CA that signed the server's certificate: connect with TLS [PATCHCORE_CA_CERT]",
    )  # fmt: skip
    parser.add_argument(
        "--client-cert", type=Path, default=_env_path("PATCHCORE_CLIENT_CERT"),
        help="PEM certificate of this client, for servers requiring mutual TLS [PATCHCORE_CLIENT_CERT]",
    )  # fmt: skip
    parser.add_argument(
        "--client-key", type=Path, default=_env_path("PATCHCORE_CLIENT_KEY"),
        help="PEM private key of --client-cert [PATCHCORE_CLIENT_KEY]",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)

    teach_parser = commands.add_parser(
        "teach",
        help="teach a product from a folder of good images",
        description="Teach a product from a folder of good images (no defect images): the server builds its "
        "memory bank and sets its threshold from held-out scores of these images. Teaching a product again "
        "stores a new version.",
    )
    teach_parser.add_argument("--product", required=True, help="product id, e.g. flange-a")
    teach_parser.add_argument("folder", type=Path, help="folder of good images (8 is the reference)")
    teach_parser.add_argument(
        "--coreset-ratio", type=float, default=0.0,
        help="share of the teach patches kept in the memory bank; 0 = the server's default",
    )  # fmt: skip
    teach_parser.add_argument(
        "--threshold-scale", type=float, default=0.0,
        help="threshold = this x the highest held-out score of the good images; 0 = the server's default",
    )  # fmt: skip
    teach_parser.add_argument(
        "--top-k", type=_whole_number(UINT32_MAX), default=0,
        help="image score = mean of the k highest patch scores (1 = the highest); 0 = the server's default",
    )  # fmt: skip
    teach_parser.add_argument(
        "--augment-rotations", action="store_true", help="for parts that appear rotated"
    )
    teach_parser.add_argument(
        "--contrast-stretch", action="store_true", help="for lines whose exposure drifts between frames"
    )
    teach_parser.add_argument(
        "--roi", type=_roi, default=None,
        help="region of interest X,Y,W,H in frame pixels: every frame of the product is cropped to it",
    )  # fmt: skip
    teach_parser.add_argument(
        "--tile-size", type=_whole_number(UINT32_MAX), default=0,
        help="cover each frame (or ROI) with tiles of N pixels, each one model input: high-resolution frames "
        "with small defects; 0 = the whole frame as one input",
    )  # fmt: skip
    teach_parser.add_argument(
        "--align", action="store_true",
        help="turn and shift every frame onto the first teach image first: parts that sit a few pixels off "
        "or turn a few degrees in their fixture (frames must all have the first image's size)",
    )  # fmt: skip
    teach_parser.add_argument(
        "--line-views", type=_whole_number(UINT32_MAX), default=None, metavar="N",
        help="also learn N views of each image shifted, turned, lit and JPEG-compressed as a line varies "
        "them (default: the server's; 0 = off, for parts always aligned and evenly lit)",
    )  # fmt: skip
    teach_parser.set_defaults(run=teach)

    add_parser = commands.add_parser(
        "add-images",
        help="teach a product more good images, e.g. frames it flagged that are good",
        description="Teach a product more good images, e.g. frames it flagged that an operator confirmed as "
        "good. The product is built again from all its images with its own teach options; the threshold is "
        "recomputed.",
    )
    add_parser.add_argument("--product", required=True, help="id of a taught product")
    add_parser.add_argument("files", type=Path, nargs="+", help="image files or folders of them")
    add_parser.add_argument(
        "--expected-version", type=_whole_number(UINT64_MAX), default=0,
        help="fail (ABORTED) unless the product is at this version; 0 = whichever it is",
    )  # fmt: skip
    add_parser.set_defaults(run=add_images)

    inspect_parser = commands.add_parser(
        "inspect",
        help="inspect image files; write overlays and a CSV",
        description=f"Inspect image files against a taught product, streamed to the server: one row per file "
        f"in OUT/{CSV_NAME} ({', '.join(CSV_COLUMNS)}) and, unless --no-overlays, each file's heatmap "
        "overlay. Exits 1 when a file could not be inspected.",
    )
    inspect_parser.add_argument("--product", required=True, help="id of a taught product")
    inspect_parser.add_argument("files", type=Path, nargs="+", help="image files or folders of them")
    inspect_parser.add_argument("--out", type=Path, required=True, help=f"folder for overlays and {CSV_NAME}")
    inspect_parser.add_argument("--no-overlays", action="store_true", help="write the CSV only (faster)")
    inspect_parser.set_defaults(run=inspect)

    products_parser = commands.add_parser(
        "products",
        help="list the server's products",
        description="List the server's products: version, threshold, memory bank size, teach image count "
        "and whether the loaded model can score them.",
    )
    products_parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="also show the options each product was taught with, as teach flags",
    )  # fmt: skip
    products_parser.set_defaults(run=products)

    health_parser = commands.add_parser(
        "health",
        help="print the server's gRPC health status; exit 0 only when SERVING (a probe for systemd or "
        "monitoring; needs no token)",
        description="Print the server's gRPC health status (SERVING, NOT_SERVING, ...); exit 0 only when "
        "SERVING. A probe for systemd or monitoring; needs no token.",
    )
    health_parser.add_argument(
        "--service", default="", help='"" = the whole server, or patchcore.edge.v1.InspectionService'
    )
    health_parser.add_argument(
        "--wait", type=float, default=0.0,
        help="seconds to wait for the server to come up and report SERVING (0 = ask once)",
    )  # fmt: skip
    health_parser.set_defaults(run=health)
    return parser
