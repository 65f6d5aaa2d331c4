"""Every benchmark command prints its --help: the text names its options, and argparse raises on a stray
format character in any of them only when the help is printed."""

import importlib

import pytest

COMMANDS = [
    "tests.benchmarks.accuracy",
    "tests.benchmarks.accuracy_choices",
    "tests.benchmarks.fleet_sync",
    "tests.benchmarks.perf",
    "tests.benchmarks.teach_scaling",
]


@pytest.mark.parametrize("module", COMMANDS)
def test_help_prints_and_exits_0(module, capsys):
    with pytest.raises(SystemExit) as exited:
        importlib.import_module(module).main(["--help"])
    assert exited.value.code == 0
    assert f"python -m {module}" in capsys.readouterr().out
