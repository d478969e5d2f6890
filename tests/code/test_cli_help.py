"""Every command's --help shows its whole text and every default.

The CLI renders help with rich markup (`rich_markup_mode="rich"`): a bracketed phrase written
into a help text, such as "[default: synth.seed]", is read as a style tag and silently dropped
("Random seed ."). Dynamic defaults therefore go through `show_default="..."`, which Typer
renders itself, outside the markup; these tests walk the whole command tree so that a new
command cannot bring the problem back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import Enum
from typing import Any

import pytest
import typer
from rich.text import Text
from typer.testing import CliRunner

from gaitgrf.cli import app

runner = CliRunner()


def _walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, [*path, name])


COMMANDS = list(_walk(typer.main.get_command(app), []))
IDS = [" ".join(path) or "gaitgrf" for path, _ in COMMANDS]


def _expected_defaults(command: Any) -> list[str]:
    """The `[default: ...]` lines the help of `command` must show, one per parameter."""
    needles = []
    for param in command.params:
        if param.name == "help":
            continue
        if isinstance(param.show_default, str):
            needles.append(f"[default: ({param.show_default})]")
        elif param.default is not None and not getattr(param, "is_flag", False):
            value = param.default.value if isinstance(param.default, Enum) else param.default
            needles.append(f"[default: {value}]")
    return needles


def test_the_walk_reaches_nested_commands() -> None:
    assert {"synth", "predict", "weights status", "export onnx", "cohort add"} <= set(IDS)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_texts_hold_no_markup(path: list[str], command: Any) -> None:
    texts = {"(command)": command.help or ""}
    texts |= {param.name: getattr(param, "help", None) or "" for param in command.params}
    for name, text in texts.items():
        rendered = Text.from_markup(text).plain
        assert rendered == text, (
            f"{name}: rich reads part of {text!r} as markup and shows {rendered!r}; "
            "give a default through show_default= (or escape the bracket)"
        )


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_shows_every_default(path: list[str], command: Any) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    text = re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", result.output))
    swallowed = re.findall(r"\S+ \.(?:\s|$)", text)
    assert not swallowed, f"a help text lost its end: {swallowed}"
    for needle in _expected_defaults(command):
        assert needle in text, f"{needle} missing from: {text}"


def test_dynamic_defaults_are_shown() -> None:
    """The options the issue named, whose defaults come from params or from the input."""
    expected = {
        ("synth",): ["synth.subjects", "synth.seed", "<paths.raw>/<cohort id>", "synth.cohort_id"],
        ("weights", "status"): ["models.pretrained.weights_dir"],
        ("predict",): ["its only row"],
    }
    for path, defaults in expected.items():
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "1000"})
        for default in defaults:
            assert f"[default: ({default}" in result.output, (path, default)
