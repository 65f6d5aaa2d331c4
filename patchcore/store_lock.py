"""One writer process per product store. The server holds its store's lock while it runs and the offline
bank builder while it builds: a bank built into the store of a running server was never seen by it (the
server reads the store at its start), and two writers could each overwrite the other's new version and
remove the other's images. A second process is refused, told which process holds the store.

The lock is flock(2) on <store>/.lock: the kernel releases it when its holder exits, kill -9 included, so a
crash never leaves a store locked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
from pathlib import Path

from patchcore.errors import StorageError

LOCK_FILE = ".lock"  # in the store's root; not a product id (patchcore/store.py)
_HOLDER_BYTES = 200


class StoreLock:
    """Holds the lock of the store at root until release() (or the process's exit)."""

    def __init__(self, root: str | Path, holder: str) -> None:
        """holder: what this process is, for the message another process gets ("the server")."""
        path = Path(root) / LOCK_FILE
        self._descriptor: int | None = None
        try:
            self._descriptor = _locked(path)
        except BlockingIOError:
            other = _holder(path)
            raise StorageError(
                f"the product store {root} is in use by {other or 'another process'}; a store has one writer "
                "at a time: teach over gRPC while a server runs, or stop the other process first"
            ) from None
        except OSError as error:
            if error.errno == errno.EROFS:
                return  # a read-only store without a lock file: no process can write it
            raise StorageError(f"cannot lock the product store {root}: {error.strerror}") from error
        with contextlib.suppress(OSError):  # the holder's name is for messages only
            path.write_text(f"{holder} (pid {os.getpid()})")

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def _locked(path: Path) -> int:
    """A descriptor of the lock file at path, locked (BlockingIOError when another process holds it).

    Opened read-only where the filesystem allows: a file held open for writing would keep the store's
    filesystem from being remounted read-only while the server runs. NFS turns flock into a byte-range lock,
    which needs a descriptor open for writing (EBADF otherwise). The file is readable by everyone, whoever
    made it under whatever umask, so the server's user can lock a store the builder first locked as root.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(PermissionError):  # someone else's file, already readable
            os.fchmod(descriptor, 0o644)
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return descriptor
    except OSError as error:
        os.close(descriptor)
        if error.errno not in (errno.EBADF, errno.EINVAL):
            raise
    descriptor = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def _holder(path: Path) -> str:
    """Who holds the lock, as the holder wrote it in the file; "" when unknown: unreadable, or naming a
    process that has ended (a holder that could not write the file, another user's, left the last name)."""
    try:
        text = path.read_text(errors="replace")[:_HOLDER_BYTES].strip()
    except OSError:
        return ""
    pid = re.search(r"\(pid (\d+)\)$", text)
    return text if pid is None or _alive(int(pid.group(1))) else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
