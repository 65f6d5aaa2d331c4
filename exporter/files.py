"""Where model files are written: a folder checked before the export, and the temp files a killed export
left removed (the writes themselves are patchcore.durable's)."""

import shutil
import tempfile
from pathlib import Path

from patchcore.durable import TEMP_SUFFIX, temp_prefix
from patchcore.errors import StorageError


def prepare_to_write(target: Path) -> None:
    """Makes target's folder and checks that it takes a new file, so that a folder that cannot take the model
    is refused before the export rather than after it; removes what an export of target killed while writing
    left there (a temp file as large as the model: a killed process cannot remove its own)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target.parent):
            pass
        for leftover in target.parent.glob(f"{temp_prefix(target)}*{TEMP_SUFFIX}"):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)
    except OSError as error:
        raise StorageError(f"Cannot write model files to {target.parent}: {error}") from error
