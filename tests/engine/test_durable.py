import os
import stat
import subprocess
import sys

import pytest

WRITE = "import sys, pathlib; from patchcore.durable import write_atomically; "
WRITE += "write_atomically(pathlib.Path(sys.argv[1]), b'bank', 'product file')"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_a_file_gets_the_mode_the_umask_gives_new_files(tmp_path, umask, mode):
    """A store written by one user (root running the builder) must be readable by the service's user as a
    plainly written file would be, and no more."""
    path = tmp_path / "v00000001.bank"
    subprocess.run([sys.executable, "-c", WRITE, str(path)], check=True, preexec_fn=lambda: os.umask(umask))
    assert stat.S_IMODE(path.stat().st_mode) == mode
