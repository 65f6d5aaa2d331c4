"""`patchcore-client`: teach a product from a folder, add good images to it, inspect image files, list
products, probe health. Parses the command line, connects and runs the command, reporting its errors."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import grpc

from patchcore_client.cli_advice import advice
from patchcore_client.cli_image_files import MissingPath
from patchcore_client.cli_parser import build_parser, read_pem
from patchcore_client.cli_teach import RefusedImage
from patchcore_client.client import InspectionClient, check_token


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
        root_certificates=read_pem(parser, "--ca-cert", args.ca_cert),
        client_certificate=read_pem(parser, "--client-cert", args.client_cert),
        client_key=read_pem(parser, "--client-key", args.client_key),
        token=args.token,
        max_message_bytes=args.max_message_bytes,
    ) as client:
        try:
            return args.run(client, args)
        except MissingPath as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except grpc.RpcError as error:
            print(f"\nerror: {error.code().name}: {error.details()}{advice(error, args)}", file=sys.stderr)
            return 1
        except RefusedImage as error:
            print(f"\nerror: {error.code.name}: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            # The call is cancelled as the client closes: a teach or add-images the server had not stored
            # yet stores nothing (README "Running the server", teach_cancelled).
            print(f"\ninterrupted: {args.command} was cancelled", file=sys.stderr)
            return 130
