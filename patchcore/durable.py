"""Durable, atomic file writes: a reader, or a start after kill -9 or power loss, sees the old file or the
complete new one, never a part of it."""

import os
import tempfile
from pathlib import Path

from patchcore.errors import StorageError

TEMP_SUFFIX = ".tmp"  # half-written files end so; nothing else in the store does


def temp_prefix(target: Path) -> str:
    """The start of the name of every temp file or folder made while writing target (hidden, beside it)."""
    return f".{target.name}."


def _file_mode() -> int:
    """The mode open(2) gives a new file under this process's umask (temp files are made 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# Read once, at import: os.umask can only be read by setting it, which is not safe beside other threads.
FILE_MODE = _file_mode()


def fsync_directory(directory: Path) -> None:
    """Makes the directory's entries (a rename, a new name) durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: Path, content: bytes, what: str) -> None:
    """Write content to path: temp file in the same directory, fsync, rename over path, fsync the directory.

    When it returns, the file and its name are durable, with the mode the umask gives new files (a store
    or model written by one user, e.g. root, is readable by the service's user as a plainly written file
    would be). StorageError naming `what` on OSError; the temp file is removed whatever stops the write.
    """
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=temp_prefix(path), suffix=TEMP_SUFFIX, delete=False
        ) as temp:
            temp_name = temp.name
            os.fchmod(temp.fileno(), FILE_MODE)
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
        temp_name = None
        fsync_directory(path.parent)
    except OSError as error:
        raise StorageError(f"cannot write {what} {path}: {error.strerror or error}") from error
    finally:
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)
