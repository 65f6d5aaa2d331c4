"""The image files a command is given: files, and the image files inside folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class MissingPath(Exception):
    """A file or folder named on the command line does not exist."""


def image_files(paths: Sequence[Path]) -> list[Path]:
    """The given files, and the image files (by suffix, sorted) inside the given folders; MissingPath
    naming the first path that does not exist."""
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise MissingPath(f"no such file or folder: {path}")
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(path)
    return found
