"""docs/configuration.md documents params.yaml, and every doc the code points to exists.

Error hints send the user to a document ("see docs/importing.md"); a hint naming a file that is
not there is worse than none. The configuration page is checked against the pydantic model it
describes: every section and key, every default written as a literal, and every example (each
must load as a params file), so the page cannot drift from `gaitgrf.core.config`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from gaitgrf.core.config import ConfigError, Params, parse_params

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
DOC_PATH = re.compile(r"\bdocs/[A-Za-z0-9_./-]+\.md\b")
#: Where hints are written: the library, the DVC stages and the Prefect flows.
CODE_DIRS = ("src", "stages", "flows")


def _string_constants(path: Path) -> list[str]:
    """Every string literal in a module, f-string pieces and docstrings included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _doc_paths_in_code() -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for folder in CODE_DIRS:
        for module in sorted((ROOT / folder).rglob("*.py")):
            for text in _string_constants(module):
                for doc in DOC_PATH.findall(text):
                    named.setdefault(doc, []).append(str(module.relative_to(ROOT)))
    return named


def test_every_doc_the_code_names_exists() -> None:
    named = _doc_paths_in_code()
    assert "docs/configuration.md" in named  # the walk sees the config error's hint
    missing = {doc: where for doc, where in named.items() if not (ROOT / doc).is_file()}
    assert not missing, f"documents named in the code but not in the repository: {missing}"


def test_config_error_hint_points_to_the_configuration_page() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_params({"synth": {"subjets": 40}})
    assert "synth.subjets" in str(caught.value)
    hint = caught.value.hint or ""
    assert "docs/configuration.md" in hint
    assert DOC.is_file()


def _sections() -> dict[str, str]:
    """The page's text under each `## `section`` heading (its sub-tables included)."""
    parts = re.split(r"^## `([a-z_]+)`\s*$", DOC.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _section_names() -> list[str]:
    return [field.alias or name for name, field in Params.model_fields.items()]


def _keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf key of a section model; a nested section's keys as paths below its name."""
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _keys(annotation, (*prefix, name))
        else:
            keys.append((*prefix, field.alias or name))
    return keys


def test_every_section_of_params_yaml_and_the_model_is_documented() -> None:
    in_yaml = list(yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert in_yaml == _section_names()
    assert list(_sections()) == _section_names()


@pytest.mark.parametrize("section", _section_names())
def test_every_key_is_documented(section: str) -> None:
    text = _sections()[section]
    model = Params.model_fields[section if section != "validate" else "validate_"].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    missing = [
        ".".join(key)
        for key in _keys(model)
        if f"`{'.'.join(key)}`" not in text and f"`{key[-1]}`" not in text
    ]
    assert not missing, f"{section}: keys missing from docs/configuration.md: {missing}"


def _default_of(section: dict[str, Any], key: str) -> tuple[bool, Any]:
    """The default of `key` (dotted, or a key of exactly one nested section)."""
    found = []
    nested = [(name, value) for name, value in section.items() if isinstance(value, dict)]
    for name, value in [("", section), *nested]:
        node: Any = value
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            found.append((name, node))
    direct = [value for name, value in found if name == ""]
    if direct:
        return True, direct[0]
    return (True, found[0][1]) if len(found) == 1 else (False, None)


@pytest.mark.parametrize("section", _section_names())
def test_documented_defaults_are_the_models(section: str) -> None:
    defaults = Params().model_dump(mode="json", by_alias=True)[section]
    rows = re.findall(r"^\| `([a-z_.]+)` \| `([^`|]+)` \|", _sections()[section], re.MULTILINE)
    assert rows
    for key, cell in rows:
        known, expected = _default_of(defaults, key)
        assert known, f"{section}: documented key {key} is not in the model"
        assert yaml.safe_load(cell) == expected, f"{section}.{key}: page says {cell}"


def test_every_example_is_a_valid_params_file() -> None:
    checked = set()
    for section, text in _sections().items():
        for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL):
            raw = yaml.safe_load(block)
            # Its own section, plus what it cannot be valid without (adapt: tune's external).
            assert section in raw, f"an example under {section} sets {list(raw)}"
            parse_params(raw, source=f"docs/configuration.md ({section})")
            checked.add(section)
    assert checked == set(_section_names())
