import fcntl
import os
import stat
import subprocess
import sys

import pytest

from patchcore.errors import StorageError
from patchcore.store_lock import StoreLock

HOLD_UNTIL_STDIN_CLOSES = (
    "import sys; from patchcore.store_lock import StoreLock; "
    "lock = StoreLock(sys.argv[1], 'the test holder'); print('held', flush=True); sys.stdin.read()"
)


def test_a_second_holder_is_refused_naming_the_first_until_it_releases(tmp_path):
    first = StoreLock(tmp_path, "the server")
    with pytest.raises(StorageError, match=r"in use by the server \(pid \d+\)"):
        StoreLock(tmp_path, "the offline bank builder")
    first.release()
    StoreLock(tmp_path, "the offline bank builder").release()


def test_another_process_is_refused_and_its_exit_frees_the_store(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_UNTIL_STDIN_CLOSES, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(StorageError, match=f"in use by the test holder \\(pid {holder.pid}\\)"):
        StoreLock(tmp_path, "the server")
    holder.kill()  # as kill -9 would: the kernel releases the lock
    holder.wait()
    StoreLock(tmp_path, "the server").release()


def test_the_lock_file_is_readable_by_everyone_whatever_the_umask(tmp_path):
    """A store first locked by the builder run as root under umask 077 must still be lockable by the
    service's user."""
    program = (
        "import sys; from patchcore.store_lock import StoreLock; StoreLock(sys.argv[1], 'builder').release()"
    )
    subprocess.run(
        [sys.executable, "-c", program, str(tmp_path)], check=True, preexec_fn=lambda: os.umask(0o077)
    )
    assert stat.S_IMODE((tmp_path / ".lock").stat().st_mode) == 0o644


def test_a_holder_named_by_a_process_that_has_ended_is_not_named(tmp_path):
    """A holder that could not write its name (the file is another user's) leaves the last writer's there."""
    (tmp_path / ".lock").write_text("the offline bank builder (pid 2147483646)")
    descriptor = os.open(tmp_path / ".lock", os.O_RDONLY)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        with pytest.raises(StorageError, match="in use by another process"):
            StoreLock(tmp_path, "the server")
    finally:
        os.close(descriptor)
