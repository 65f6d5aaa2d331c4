"""The CLI's progress line: rewritten in place on a terminal, a few whole lines in a log file."""

import io

from patchcore_client.progress import ProgressLine


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_a_line_every_tenth_of_the_work_not_one_per_frame() -> None:
    log = io.StringIO()
    progress = ProgressLine("inspect", 200, stream=log)
    for _ in range(200):
        progress.advance()
    progress.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 10 <= len(lines) <= 11
    assert lines[0].startswith("inspect  1/200")
    assert lines[-1].startswith("inspect  200/200  100%")


def test_a_terminal_gets_one_line_rewritten_in_place() -> None:
    terminal = _Terminal()
    progress = ProgressLine("teach", 3, unit="images", stream=terminal)
    for _ in range(3):
        progress.advance()
    progress.close()
    written = terminal.getvalue()
    assert written.count("\r") == 3
    assert written.rsplit("\r", 1)[1].startswith("teach  3/3  100%")
    assert written.endswith(" images/s\n") and written.count("\n") == 1
