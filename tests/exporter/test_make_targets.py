"""The commands `make export`, `make bank` and `make serve` run, as `make -n` prints them (nothing is run)."""

import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def planned_command(module: str, target: str, *variables: str) -> list[str]:
    """The arguments after `python -m module` in the recipe of `make target variables...`."""
    result = subprocess.run(
        ["make", "-n", target, *variables], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    commands = [shlex.split(line) for line in result.stdout.replace("\\\n", " ").splitlines()]
    [command] = [words for words in commands if words[1:3] == ["-m", module]]
    return command[3:]


@pytest.mark.parametrize(("force", "forced"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_force_is_set_by_any_value_but_0_and_empty(force, forced):
    arguments = planned_command("exporter", "export", "BACKBONE=efficientnet_lite0", f"FORCE={force}")

    assert ("--force" in arguments) is forced


def test_export_passes_a_weights_path_with_spaces_whole():
    arguments = planned_command("exporter", "export", "WEIGHTS=my downloads/dinov2 small.pth")

    assert arguments == ["--weights", "my downloads/dinov2 small.pth"]


def test_bank_passes_paths_with_spaces_whole():
    variables = ["MODEL=my models/m.onnx", "IMAGES=good parts", "PRODUCT=flange", "STORE=line store"]

    arguments = planned_command("exporter.bank", "bank", *variables)

    assert arguments == [
        "--model", "my models/m.onnx",
        "--images", "good parts",
        "--product", "flange",
        "--store", "line store",
    ]  # fmt: skip


def test_serve_passes_paths_with_spaces_whole():
    arguments = planned_command("server", "serve", "MODEL=my models/m.onnx", "STORE=line store", "PORT=50070")

    assert arguments == ["--model", "my models/m.onnx", "--store", "line store", "--port", "50070"]
