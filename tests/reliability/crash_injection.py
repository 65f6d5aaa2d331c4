"""`python -m crash_injection`: the server, killed with SIGKILL at one chosen moment of writing a product.

PATCHCORE_TEST_CRASH_AT names the moment (see MOMENTS); the process kills itself there the first time it is
reached, exactly as `kill -9` would. A version is written as two files, its teach images first and its bank
last (a rebuild for another model writes only a bank: the versions share the images), so the moments of the
file writes name the file: "torn:images" or "after_rename:bank". Only the tests start the server this way;
the server code is unchanged.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import sys
import tempfile
import types

from reliability_support import CRASH_VARIABLE

import patchcore.durable
import patchcore.store
from server.__main__ import main

FILE_KINDS = ("images", "bank")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _torn(kind: str) -> None:
    """The temp file of the new `kind` file gets half its bytes, then the process dies."""
    real = tempfile.NamedTemporaryFile

    def tearing(*args, **kwargs):
        temp = real(*args, **kwargs)
        if not kwargs["prefix"].endswith(f".{kind}."):
            return temp
        write = temp.write

        def write_half(data: bytes) -> int:
            write(data[: len(data) // 2])
            temp.flush()
            die()
            return 0

        temp.write = write_half
        return temp

    patchcore.durable.tempfile = types.SimpleNamespace(NamedTemporaryFile=tearing)


def _replacing(kind: str, before: bool) -> None:
    """The process dies just before or just after the complete, fsynced `kind` temp file is renamed to its
    final name (after: before the directory fsync and everything that follows)."""

    def replace(source: str, target: str) -> None:
        ours = str(target).endswith(f".{kind}")
        if ours and before:
            die()
        os.replace(source, target)
        if ours:
            die()

    patchcore.durable.os = types.SimpleNamespace(**{**vars(os), "replace": replace})


def _during_prune() -> None:
    """The new version is stored; the process dies while removing the oldest one."""
    unlink = pathlib.Path.unlink

    def dying_unlink(self: pathlib.Path, missing_ok: bool = False) -> None:
        if self.suffix == ".bank":
            die()
        unlink(self, missing_ok=missing_ok)

    pathlib.Path.unlink = dying_unlink


def _during_delete() -> None:
    """DeleteProduct has renamed the product's folder away; removing it never finishes."""
    patchcore.store.shutil = types.SimpleNamespace(**{**vars(shutil), "rmtree": lambda *_, **__: die()})


MOMENTS = {
    **{f"torn:{kind}": lambda kind=kind: _torn(kind) for kind in FILE_KINDS},
    **{f"before_rename:{kind}": lambda kind=kind: _replacing(kind, before=True) for kind in FILE_KINDS},
    **{f"after_rename:{kind}": lambda kind=kind: _replacing(kind, before=False) for kind in FILE_KINDS},
    "during_prune": _during_prune,
    "during_delete": _during_delete,
}

if __name__ == "__main__":
    MOMENTS[os.environ[CRASH_VARIABLE]]()
    sys.exit(main())
