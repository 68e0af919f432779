"""Every option of every command says what it does in --help."""

from __future__ import annotations

import argparse

import pytest

from tuneop.cli.main import build_parser
from tuneop.controller.command import add_parser as add_operator_command


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser(add_operator_command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"tuneop": parser, **sub.choices}


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_has_help_text(command: str) -> None:
    parser = _commands()[command]
    silent = [
        "/".join(a.option_strings) or a.dest
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction) and not (a.help and a.help.strip())
    ]
    assert silent == [], f"{command}: options without help: {silent}"
