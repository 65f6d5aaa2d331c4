"""The README's "Calling from C++ / C# / Python / grpcurl" examples, run as a user would paste them: the
sample parts snippet, the C++ and the Python blocks against the live server (C# and grpcurl need tools that
Debian 12 lacks).

Only the server address and the repository paths are rewritten: the blocks run in an empty folder."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from native_tools import REPO, parse_lines, run

SECTION = "## Calling from C++ / C# / Python / grpcurl"
README_TARGET = "127.0.0.1:50051"
FRAME_LINE = re.compile(r"\d+ (\d+\.\d+ (OK|NG)|- ERROR )")  # the per-frame lines among cmake's and teach's

pytestmark = pytest.mark.slow


def section_blocks() -> dict[str, list[tuple[str, str]]]:
    """{subsection title ("" before the first ###): [(fence language, code)]} of the README section."""
    readme = (REPO / "README.md").read_text()
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = {}
    for title, body in re.findall(r"(?:^|\n)(?:### (.+?)\n)?(.*?)(?=\n### |\Z)", section, re.S):
        blocks[title] = re.findall(r"```(\w*)\n(.*?)```", body, re.S)
    return blocks


def run_block(language: str, code: str, target: str, folder: Path) -> str:
    """Runs one README block in `folder` against `target`; returns its stdout (fails on a non-zero exit)."""
    code = code.replace(README_TARGET, target).replace("clients/", f"{REPO}/clients/")
    code = code.replace(".venv/bin/", f"{Path(sys.executable).parent}/")
    command = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [sys.executable, "-c", code]
    result = run(command, cwd=folder)
    assert result.returncode == 0, f"{code}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory, live_server) -> Path:
    """A folder holding good/ and line/, written by the section's first block."""
    folder = tmp_path_factory.mktemp("readme")
    [(language, code)] = section_blocks()[""]
    run_block(language, code, live_server.target, folder)
    return folder


def test_the_sample_snippet_writes_the_parts(samples):
    assert len(list((samples / "good").glob("*.png"))) == 8
    assert len(list((samples / "line").glob("*.png"))) == 4


def test_the_cpp_examples_print_the_verdicts_the_readme_shows(cpp_bin, live_server, samples):
    [(_, build_teach_stream), (_, shown_output), (_, raw)] = section_blocks()["C++"][:3]

    stream_output = run_block("sh", build_teach_stream, live_server.target, samples)
    raw_output = run_block("sh", raw, live_server.target, samples)

    frame_lines = "\n".join(line for line in stream_output.splitlines() if FRAME_LINE.match(line))
    streamed = [(frame_id, verdict) for frame_id, _, verdict in parse_lines(frame_lines)]
    assert streamed == [(frame_id, verdict) for frame_id, _, verdict in parse_lines(shown_output)]
    assert [verdict for _, _, verdict in parse_lines(raw_output)] == ["NG"]


def test_the_python_examples_teach_and_print_the_verdicts(live_server, samples):
    [(library_language, library), (_, command_line)] = section_blocks()["Python"]

    library_output = run_block(library_language, library, live_server.target, samples).splitlines()
    run_block("sh", command_line, live_server.target, samples)

    assert library_output[0].startswith("taught flange version ")
    assert [line.split()[2] for line in library_output[1:]] == ["good", "good", "anomalous", "anomalous"]
    assert (samples / "out").is_dir()
