"""The `gaitgrf` command line: help texts, clean errors, light imports, cohort commands."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gaitgrf.cli import app

runner = CliRunner()

COMMANDS = [
    [],
    ["bootstrap"],
    ["synth"],
    ["cohort"],
    ["cohort", "check"],
    ["cohort", "list"],
    ["tune"],
    ["evaluate"],
    ["promote"],
    ["registry"],
    ["registry", "show"],
    ["registry", "rollback"],
    ["ui"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "gaitgrf")
def test_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_version() -> None:
    from gaitgrf import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def _assert_clean_error(output: str, fragment: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in output
    assert lines[-1].startswith("hint: ")


def test_check_missing_cohort_is_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cohort", "check", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    _assert_clean_error(result.output, "no such cohort folder")


def test_bad_params_is_one_clear_line(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("synth:\n  subjects: -2\n")
    result = runner.invoke(app, ["cohort", "list", "--params", str(params)])
    assert result.exit_code == 1
    _assert_clean_error(result.output, "synth.subjects")


def test_bad_option_names_the_key(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--cohort-id", "Not OK", "--out", str(tmp_path / "c")])
    assert result.exit_code == 1
    _assert_clean_error(result.output, "cohort_id")
    assert not (tmp_path / "c").exists()


def test_error_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gaitgrf.cli", "cohort", "check", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    _assert_clean_error(proc.stderr, "no such cohort folder")


def test_import_is_light() -> None:
    heavy = ("torch", "pandas", "numpy", "pyarrow", "dvc", "prefect", "mlflow", "pydantic")
    code = f"import sys, gaitgrf.cli; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


@pytest.fixture
def tiny_params(tmp_path: Path) -> Path:
    """A params file with a tiny synthetic cohort; paths under tmp_path."""
    path = tmp_path / "params.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "paths": {"raw": str(tmp_path / "raw"), "reports": str(tmp_path / "reports")},
                "synth": {
                    "subjects": 3,
                    "walking_trials": 1,
                    "static_trials": 1,
                    "trial_duration_s": 4.0,
                    "static_duration_s": 1.0,
                },
            }
        )
    )
    return path


def test_synth_then_check_and_list(tiny_params: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--params", str(tiny_params), "--cohort-id", "tiny"])
    assert result.exit_code == 0, result.output
    assert "3 subjects, 6 trials" in result.output
    cohort = tmp_path / "raw" / "tiny"
    assert (cohort / "subjects.csv").is_file()

    result = runner.invoke(app, ["synth", "--params", str(tiny_params), "--cohort-id", "tiny"])
    assert result.exit_code == 1
    _assert_clean_error(result.output, "already exists")

    result = runner.invoke(app, ["cohort", "check", str(cohort), "--params", str(tiny_params)])
    assert result.exit_code == 0, result.output
    assert "contract OK" in result.output
    total = next(line for line in result.output.splitlines() if "total" in line)
    assert [t for t in total.split() if t.isdigit()] == ["3", "3", "3"]

    result = runner.invoke(app, ["cohort", "list", "--params", str(tiny_params)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "tiny" in line)
    assert "untracked" in row and "ok" in row


def test_check_lists_every_violation(make_cohort: Callable[..., Path], tmp_path: Path) -> None:
    cohort = make_cohort("broken")
    (cohort / "subjects.csv").write_text("subject_id\nS01\n")
    result = runner.invoke(app, ["cohort", "check", str(cohort)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    first = result.output.splitlines()[0]
    assert first.startswith("error: ") and "violation" in first
    assert any(line.strip().startswith("- [") for line in result.output.splitlines())


def test_list_without_cohorts(tiny_params: Path) -> None:
    result = runner.invoke(app, ["cohort", "list", "--params", str(tiny_params)])
    assert result.exit_code == 0
    assert "no cohort under" in result.output


def test_tune_refuses_unknown_architecture_and_condition() -> None:
    result = runner.invoke(app, ["tune", "transformer"])
    assert result.exit_code == 1
    _assert_clean_error(result.output, "unknown architecture 'transformer'")
    result = runner.invoke(app, ["tune", "lstm", "--condition", "both"])
    assert result.exit_code == 1
    _assert_clean_error(result.output, "unknown condition 'both'")


def _registry_params(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"paths": {"mlflow_db": str(tmp_path / "mlflow.db")}}))
    return path


def test_registry_show_and_rollback_on_an_empty_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    params = _registry_params(tmp_path)
    result = runner.invoke(app, ["registry", "show", "--params", str(params)])
    assert result.exit_code == 0, result.output
    assert "has no version yet" in result.output
    result = runner.invoke(app, ["registry", "rollback", "--params", str(params)])
    assert result.exit_code == 1
    _assert_clean_error(result.output, "has no champion to roll back")
