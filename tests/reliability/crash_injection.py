"""`python -m crash_injection`: the server, killed with SIGKILL at one chosen moment of writing a product.

PATCHCORE_TEST_CRASH_AT names the moment (see MOMENTS); the process kills itself there the first time it is
reached, exactly as `kill -9` would. Only the tests start the server this way; the server code is unchanged.
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

import patchcore.bank
import patchcore.store
from server.__main__ import main


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _torn_temp_file() -> None:
    """The new bank's temp file gets half its bytes, then the process dies."""
    real = tempfile.NamedTemporaryFile

    def tearing(*args, **kwargs):
        temp = real(*args, **kwargs)
        write = temp.write

        def write_half(data: bytes) -> int:
            write(data[: len(data) // 2])
            temp.flush()
            die()
            return 0

        temp.write = write_half
        return temp

    patchcore.bank.tempfile = types.SimpleNamespace(NamedTemporaryFile=tearing)


def _before_rename() -> None:
    """The temp file is complete and fsynced; the rename to the version's name never happens."""
    patchcore.bank.os = types.SimpleNamespace(**{**vars(os), "replace": lambda *_: die()})


def _after_rename() -> None:
    """The new version file has its name; the directory fsync and the pruning of old versions never happen."""
    patchcore.bank._fsync_directory = lambda _directory: die()


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
    patchcore.store.shutil = types.SimpleNamespace(**{**vars(shutil), "rmtree": lambda *_: die()})


MOMENTS = {
    "torn_temp_file": _torn_temp_file,
    "before_rename": _before_rename,
    "after_rename": _after_rename,
    "during_prune": _during_prune,
    "during_delete": _during_delete,
}

if __name__ == "__main__":
    MOMENTS[os.environ[CRASH_VARIABLE]]()
    sys.exit(main())
