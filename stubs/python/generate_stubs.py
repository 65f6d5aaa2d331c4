"""Generates the Python stubs of protos/ into the package `patchcore_edge.v1` (what `make proto` runs).

The descriptor stays registered under the contract's file name, `patchcore/edge/v1/inspection.proto`, so stubs
a user generates from protos/ load beside these. protoc would put the modules at `patchcore.edge.v1`, but the
Python package `patchcore` is the engine: the modules move to `patchcore_edge.v1`, and the two places naming
the module path are rewritten (the message module's own name, the service module's import of it).

    python stubs/python/generate_stubs.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parents[1] / "protos"
PROTO_FILE = "patchcore/edge/v1/inspection.proto"
PROTOC_PACKAGE = Path("patchcore/edge/v1")
STUBS_PACKAGE = Path("patchcore_edge/v1")

# {generated file: [(text protoc writes, text the moved module needs)]}; each text occurs exactly once.
REWRITES = {
    "inspection_pb2.py": [("'patchcore.edge.v1.inspection_pb2'", "'patchcore_edge.v1.inspection_pb2'")],
    "inspection_pb2.pyi": [],
    "inspection_pb2_grpc.py": [("from patchcore.edge.v1 import", "from patchcore_edge.v1 import")],
}


class GenerationError(RuntimeError):
    """protoc failed, or its output no longer has the text a rewrite expects."""


def rewrite(name: str, text: str) -> str:
    for old, new in REWRITES[name]:
        if text.count(old) != 1:
            raise GenerationError(f"{name}: expected {old!r} once, found it {text.count(old)} times")
        text = text.replace(old, new)
    return text


def generate(out: Path) -> list[Path]:
    """Writes the stubs to out/patchcore_edge/v1/ and returns the files written."""
    with tempfile.TemporaryDirectory() as scratch:
        args = [f"-I{PROTO_ROOT}", *(f"--{kind}_out={scratch}" for kind in ("python", "pyi", "grpc_python"))]
        if protoc.main(["protoc", *args, PROTO_FILE]) != 0:
            raise GenerationError(f"protoc failed on {PROTO_ROOT / PROTO_FILE}")
        target = out / STUBS_PACKAGE
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name in REWRITES:
            generated = (Path(scratch) / PROTOC_PACKAGE / name).read_text()
            (target / name).write_text(rewrite(name, generated))
            written.append(target / name)
        return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder that receives patchcore_edge/v1/")
    args = parser.parse_args(argv)
    try:
        written = generate(args.out)
    except GenerationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
