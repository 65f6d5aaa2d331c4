"""Every command a user types answers --help with what it does and what each option means (the server and
patchcore-client are checked in tests/server/test_config.py and tests/clients/test_cli.py)."""

import argparse
import importlib

import pytest

COMMANDS = [
    "exporter.__main__",
    "exporter.bank",
    "deploy.bundle",
    "patchcore_client.demo",
    "patchcore_client.fleet_demo",
    "tests.benchmarks.accuracy",
    "tests.benchmarks.accuracy_choices",
    "tests.benchmarks.fleet_sync",
    "tests.benchmarks.perf",
    "tests.benchmarks.teach_scaling",
]


class _Built(Exception):
    """Raised by parse_args with the parser a command built, before the command does anything."""


def parser_of(module: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    def built(parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        raise _Built(parser)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", built)
    with pytest.raises(_Built) as raised:
        importlib.import_module(module).main([])
    return raised.value.args[0]


@pytest.mark.parametrize("module", COMMANDS)
def test_help_says_what_the_command_and_each_option_do(module, monkeypatch):
    parser = parser_of(module, monkeypatch)
    text = parser.format_help()
    assert parser.description and "--help" not in parser.description
    unexplained = [action.option_strings for action in parser._actions if not action.help]
    assert unexplained == []
    assert "(default: None)" not in text
