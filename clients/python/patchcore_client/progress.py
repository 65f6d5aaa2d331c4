"""A one-line text progress indicator (tqdm may not be installed on a test rig)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_LOGGED_STEP = 10  # percent between the lines written to a stream that is not a terminal


class ProgressLine:
    """One line "label  done/total  percent  rate/s" on `stream`: rewritten in place on a terminal; on a file
    or a pipe (a test rig's log), one line every 10 percent, not one per frame."""

    def __init__(self, label: str, total: int, unit: str = "frames", stream: TextIO = sys.stderr) -> None:
        self._label = label
        self._total = total
        self._unit = unit
        self._stream = stream
        self._on_terminal = stream.isatty()
        self._done = 0
        self._logged_percent = -float(_LOGGED_STEP)
        self._started = time.perf_counter()

    def advance(self, count: int = 1) -> None:
        self._done += count
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        percent = 100 * self._done / self._total if self._total else 100
        rate = self._done / elapsed
        line = f"{self._label}  {self._done}/{self._total}  {percent:3.0f}%  {rate:.1f} {self._unit}/s"
        if self._on_terminal:
            self._stream.write(f"\r{line}")
        elif percent >= 100 or percent >= self._logged_percent + _LOGGED_STEP:
            self._stream.write(f"{line}\n")
            self._logged_percent = percent
        self._stream.flush()

    def close(self) -> None:
        if self._on_terminal:
            self._stream.write("\n")
            self._stream.flush()
