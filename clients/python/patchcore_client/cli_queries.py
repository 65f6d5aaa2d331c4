"""`patchcore-client products` and `health`: the commands that ask the server and change nothing."""

from __future__ import annotations

import argparse
import sys

import grpc

from patchcore_client.cli_advice import advice
from patchcore_client.cli_teach import teach_flags
from patchcore_client.client import InspectionClient


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
            row.insert(-1, teach_flags(product.teach_options))
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
        print(f"error: no answer from {args.target}{within} ({answer}){advice(error, args)}", file=sys.stderr)
        return 1
    print(status)
    return 0 if status == "SERVING" else 1
