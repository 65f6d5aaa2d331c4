"""`patchcore-client`: teach a product from a folder, add good images to it, inspect image files, list
products, probe health."""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore_client.client import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TARGET, InspectionClient, check_token
from patchcore_client.help_format import HelpFormatter
from patchcore_client.progress import ProgressLine

TEACH_IMAGE = "teach image"  # how the server's errors name a Teach call's images, counted from 1
ADDED_IMAGE = "added image"  # and an AddImages call's
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
CSV_NAME = "results.csv"
CSV_COLUMNS = ("frame", "file", "score", "verdict", "threshold", "regions", "error")
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
GRPC_MESSAGE_MAX = 2**31 - 1  # gRPC's message length options are C ints
SENT_TOO_LARGE = "CLIENT: Sent message larger than max"  # how grpcio refuses to send a message over the limit
SOCKET_CLOSED = ": Socket closed"  # how gRPC core ends the details of a connection the server closed at once


class MissingPath(Exception):
    """A file or folder named on the command line does not exist."""


def image_files(paths: Sequence[Path]) -> list[Path]:
    """The given files, and the image files (by suffix, sorted) inside the given folders; MissingPath
    naming the first path that does not exist."""
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise MissingPath(f"no such file or folder: {path}")
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(path)
    return found


def teach(client: InspectionClient, args: argparse.Namespace) -> int:
    files = image_files([args.folder])
    if not files:
        print(f"error: no image files ({', '.join(IMAGE_SUFFIXES)}) in {args.folder}", file=sys.stderr)
        return 1
    print(f"teaching {args.product} from {_images(len(files))} ...", file=sys.stderr)
    with _naming_files(TEACH_IMAGE, files):
        product = client.teach(
            args.product,
            files,
            coreset_ratio=args.coreset_ratio,
            augment_rotations=args.augment_rotations,
            contrast_stretch=args.contrast_stretch,
            threshold_scale=args.threshold_scale,
            top_k=args.top_k,
            roi=args.roi,
            tile_size=args.tile_size,
            line_views=args.line_views,
            align=args.align,
        )
    stats = product.teach_stats
    print(
        f"{product.product_id} version {product.version}: threshold {product.threshold:.4f}, "
        f"bank {stats.bank_size} patches from {stats.image_count} images in {stats.teach_seconds:.1f} s"
    )
    _print_taught_with(product)
    warn_of_outliers(product, files)
    return 0


class _RefusedImage(Exception):
    """The server refused an image this command sent; the message names its file."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code


@contextmanager
def _naming_files(noun: str, files: Sequence[Path]) -> Iterator[None]:
    """Turns an error the server gives as "<noun> <n>: ..." (the call's images counted from 1) into one that
    also names the file: "<noun> <n> (<file>): ..."."""
    try:
        yield
    except grpc.RpcError as error:
        details = error.details() or ""
        match = re.match(rf"{noun} (\d+): ", details)
        if match is None or not 1 <= int(match[1]) <= len(files):
            raise
        named = f"{noun} {match[1]} ({files[int(match[1]) - 1]}): {details[match.end() :]}"
        raise _RefusedImage(error.code(), named) from error


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _switched_on(options: pb.TeachOptions) -> list[str]:
    """The `teach` flags of the options that are on: ROI, tiles, alignment, augmentation."""
    flags = []
    if options.HasField("roi"):
        roi = options.roi
        flags.append(f"--roi {roi.x},{roi.y},{roi.width},{roi.height}")
    if options.tile_size:
        flags.append(f"--tile-size {options.tile_size}")
    switches = {
        "--align": options.align,
        "--augment-rotations": options.augment_rotations,
        "--contrast-stretch": options.contrast_stretch,
    }
    flags.extend(flag for flag, on in switches.items() if on)
    return flags


def _print_taught_with(product: pb.Product) -> None:
    if flags := _switched_on(product.teach_options):
        print(f"taught with {' '.join(flags)}")


def _teach_flags(options: pb.TeachOptions) -> str:
    """All the `teach` flags of the options, the server's defaults filled in (as Product.teach_options
    comes)."""
    return " ".join(
        (
            f"--coreset-ratio {options.coreset_ratio:g}",
            f"--threshold-scale {options.threshold_scale:g}",
            f"--line-views {options.line_views}",
            *_switched_on(options),
        )
    )


def warn_of_outliers(product: pb.Product, sent: list[Path]) -> None:
    """Names on stderr the images the server found unlike the others (TeachStats.outlier_images). sent: the
    files of this call, which are the product's last images."""
    stats = product.teach_stats
    first_sent = stats.image_count - len(sent)
    for index in stats.outlier_images:
        name = sent[index - first_sent].name if index >= first_sent else f"image {index} (taught before)"
        print(
            f"warning: {name} looks unlike the other good images (held-out score "
            f"{stats.leave_one_out_scores[index]:.4f}, more than twice the others' median); if it is not a "
            "good part, teach again without it: it raised the threshold and taught its defect as normal",
            file=sys.stderr,
        )


def add_images(client: InspectionClient, args: argparse.Namespace) -> int:
    files = image_files(args.files)
    if not files:
        print(f"error: no image files ({', '.join(IMAGE_SUFFIXES)}) given", file=sys.stderr)
        return 1
    print(f"adding {_images(len(files))} to {args.product} ...", file=sys.stderr)
    with _naming_files(ADDED_IMAGE, files):
        product = client.add_images(args.product, files, expected_version=args.expected_version)
    print(
        f"{product.product_id} version {product.version}: threshold {product.threshold:.4f}, "
        f"{product.teach_stats.image_count} images in all"
    )
    _print_taught_with(product)
    warn_of_outliers(product, files)
    return 0


def overlay_names(files: Sequence[Path]) -> list[str]:
    """The overlay file name of each file: <stem>_overlay.png, or <stem>_<frame>_overlay.png (frame: its
    0-based place in files, the CSV's frame column) where files share a stem (part.png in two folders,
    part.png and part.jpg), so no overlay is written over another."""
    stems = Counter(path.stem for path in files)
    names = [f"{path.stem}_overlay.png" if stems[path.stem] == 1 else "" for path in files]
    taken = set(names)
    for frame, path in enumerate(files):
        if not names[frame]:
            name = f"{path.stem}_{frame}_overlay.png"
            while name in taken:  # a file's own stem can read like another's numbered one
                name = name.removesuffix("_overlay.png") + f"_{frame}_overlay.png"
            names[frame] = name
            taken.add(name)
    return names


def inspect(client: InspectionClient, args: argparse.Namespace) -> int:
    files = image_files(args.files)
    client.get_product(args.product)  # an unknown product fails once, not once a frame
    overlays = overlay_names(files)
    args.out.mkdir(parents=True, exist_ok=True)
    progress = ProgressLine("inspect", len(files))
    counts = {"good": 0, "anomalous": 0, "error": 0}
    heatmap = "none" if args.no_overlays else "png"
    with open(args.out / CSV_NAME, "w", newline="") as table:
        writer = csv.writer(table)
        writer.writerow(CSV_COLUMNS)
        results = client.inspect_stream(args.product, enumerate(files), heatmap=heatmap)
        for result in results:
            path = files[result.frame_id]
            if result.overlay_png:
                (args.out / overlays[result.frame_id]).write_bytes(result.overlay_png)
            if result.error:  # no score: a script reading the table must not take 0 for a good part's
                score, threshold, error = "", "", f"{result.error.code.name}: {result.error.message}"
            else:
                score, threshold, error = f"{result.score:.6f}", f"{result.threshold:.6f}", ""
            writer.writerow(
                (result.frame_id, path, score, result.verdict, threshold, len(result.regions), error)
            )
            counts[result.verdict] += 1
            progress.advance()
    progress.close()
    print(
        f"{len(files)} frames: {counts['good']} good, {counts['anomalous']} anomalous, "
        f"{counts['error']} errors; results in {args.out / CSV_NAME}"
    )
    return 1 if counts["error"] else 0


def products(client: InspectionClient, args: argparse.Namespace) -> int:
    rows = [["PRODUCT", "VERSION", "THRESHOLD", "BANK", "IMAGES", "USABLE", "STATUS"]]
    if args.verbose:
        rows[0].insert(-1, "TEACH OPTIONS")
    for product in client.list_products():
        row = [
            product.product_id,
            str(product.version),
            f"{product.threshold:.4f}",
            str(product.teach_stats.bank_size),
            str(product.teach_stats.image_count),
            "yes" if product.usable else "no",
            product.status_message or ("ready" if product.usable else ""),
        ]
        if args.verbose:
            row.insert(-1, _teach_flags(product.teach_options))
        rows.append(row)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def health(client: InspectionClient, args: argparse.Namespace) -> int:
    try:
        status = client.health(args.service, wait=args.wait)
    except grpc.RpcError as error:
        if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        within = f" within {args.wait:g} s" if args.wait > 0 else ""
        answer = f"{error.code().name}: {error.details()}"
        print(
            f"error: no answer from {args.target}{within} ({answer}){_advice(error, args)}", file=sys.stderr
        )
        return 1
    print(status)
    return 0 if status == "SERVING" else 1


def _env_path(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value) if value else None


def _read_pem(parser: argparse.ArgumentParser, flag: str, path: Path | None) -> bytes | None:
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
        "them (default: the server's; 0 = off)",
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


def _advice(error: grpc.RpcError, args: argparse.Namespace) -> str:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.client_cert is None) != (args.client_key is None):
        parser.error("give both --client-cert and --client-key, or neither")
    if args.token:
        try:
            check_token(args.token)
        except ValueError as error:
            parser.error(f"--token (or PATCHCORE_TOKEN): {error}")
    with InspectionClient(
        args.target,
        timeout=args.timeout,
        root_certificates=_read_pem(parser, "--ca-cert", args.ca_cert),
        client_certificate=_read_pem(parser, "--client-cert", args.client_cert),
        client_key=_read_pem(parser, "--client-key", args.client_key),
        token=args.token,
        max_message_bytes=args.max_message_bytes,
    ) as client:
        try:
            return args.run(client, args)
        except MissingPath as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except grpc.RpcError as error:
            print(f"\nerror: {error.code().name}: {error.details()}{_advice(error, args)}", file=sys.stderr)
            return 1
        except _RefusedImage as error:
            print(f"\nerror: {error.code.name}: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            # The call is cancelled as the client closes: a teach or add-images the server had not stored
            # yet stores nothing (README "Running the server", teach_cancelled).
            print(f"\ninterrupted: {args.command} was cancelled", file=sys.stderr)
            return 130
