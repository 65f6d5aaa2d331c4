"""Progress of a long engine step, reported to an optional (done, total) callback."""

from collections.abc import Callable


class ProgressCounter:
    """Adds up finished work units and reports (done, total) to callback after each addition."""

    def __init__(self, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.done = 0
        self.total = total
        self._callback = callback

    def advance(self, units: int) -> None:
        self.done += units
        if self._callback is not None:
            self._callback(self.done, self.total)
