"""A one-line text progress indicator (tqdm may not be installed on a test rig)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """Rewrites one line on `stream`: "label  done/total  percent  rate/s"."""

    def __init__(self, label: str, total: int, unit: str = "frames", stream: TextIO = sys.stderr) -> None:
        self._label = label
        self._total = total
        self._unit = unit
        self._stream = stream
        self._done = 0
        self._started = time.perf_counter()

    def advance(self, count: int = 1) -> None:
        self._done += count
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        percent = 100 * self._done / self._total if self._total else 100
        self._stream.write(
            f"\r{self._label}  {self._done}/{self._total}  {percent:3.0f}%  "
            f"{self._done / elapsed:.1f} {self._unit}/s"
        )
        self._stream.flush()

    def close(self) -> None:
        self._stream.write("\n")
        self._stream.flush()
