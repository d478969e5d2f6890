"""Progress of long work (issue 17): the shared bar, and the counts each long command reports.

The library calls `progress(done, total, what)`; the CLI, the DVC stages and the prepare flow
draw it with `gaitgrf.progress.ProgressBar` on a terminal. `TTY_COMPATIBLE=1` makes rich treat
the captured streams as a terminal, so the tests see what a user sees (the CLI's console, made
at import, is also told that it is interactive, as it is in a terminal).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from gaitgrf.cli import app
from gaitgrf.ingest import intake
from gaitgrf.progress import ProgressBar
from tests.support.projects import add_cohort_to

Calls = list[tuple[int, int, str]]


def recorder() -> tuple[Calls, Callable[[int, int, str], None]]:
    calls: Calls = []
    return calls, lambda done, total, what: calls.append((done, total, what))


def test_bar_shows_what_counts_and_times_on_a_terminal() -> None:
    out = io.StringIO()
    with ProgressBar("importing lab-a", Console(file=out, force_terminal=True, width=160)) as bar:
        bar(0, 4, "converting [S01]/walk_01.c3d")  # brackets are text, not rich markup
        bar(2, 4, "converting S02/walk_01.c3d")
    text = out.getvalue()
    assert "importing lab-a: converting [S01]/walk_01.c3d" in text
    assert "importing lab-a: converting S02/walk_01.c3d" in text
    assert "2/4" in text and "0:00:00" in text  # counts, elapsed time (then the ETA column)


def test_bar_draws_nothing_off_a_terminal() -> None:
    out = io.StringIO()
    with ProgressBar("tune", Console(file=out, force_terminal=False)) as bar:
        bar(1, 2, "trial 2 of 2")
    assert out.getvalue() == ""


def test_tune_reports_each_trial_of_the_budget_then_the_refit(tmp_path: Path) -> None:
    from tests.code.test_tuning import config
    from tests.sample_factory import run_mlp_study

    calls, progress = recorder()
    run_mlp_study(tmp_path, config(n_trials=2), progress=progress)
    assert [(done, total) for done, total, _ in calls] == [(0, 2), (1, 2), (2, 2), (2, 2)]
    assert calls[0][2] == "mlp__subject: trial 1 of 2"
    assert calls[1][2] == "mlp__subject: trial 2 of 2"
    assert calls[2][2] == "mlp__subject: budget met"
    assert calls[3][2].startswith("mlp__subject: refitting trial ")


def test_evaluate_counts_the_studies_then_the_report_and_mlflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gaitgrf.core.config import Params
    from gaitgrf.pipeline.evaluate import run

    def fake_studies(artifacts, subjects, cfg, studies, log, progress):  # type: ignore[no-untyped-def]
        for i, study in enumerate(studies):
            progress(i, len(studies), f"evaluating {study} on the test subjects")
        return [], {}

    monkeypatch.setattr(run, "evaluate_studies", fake_studies)
    monkeypatch.setattr(run, "write_outputs", lambda *a, **k: {"best": {}})
    monkeypatch.setattr(run, "log_to_mlflow", lambda *a, **k: "run")
    monkeypatch.setattr("gaitgrf.pipeline.fuse.features.read_subjects", lambda path: None)
    monkeypatch.setattr("gaitgrf.runtime.open_tracker", lambda *a: None)
    from gaitgrf.pipeline.tune.study import study_names

    params = Params.model_validate({"models": {"architectures": ["mlp", "lstm"]}})
    studies = study_names(params.models.architectures, params.fuse.conditions)
    n = len(studies)
    calls, progress = recorder()
    run.evaluate_stage(params, {}, log=lambda line: None, progress=progress)
    assert [(done, total) for done, total, _ in calls] == [(i, n + 2) for i in range(n + 3)]
    assert [what for *_, what in calls] == [
        *(f"evaluating {study} on the test subjects" for study in studies),
        "statistics, plots and report",
        "logging the runs to MLflow",
        "done",
    ]


def _cli_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from gaitgrf.cli import output

    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setattr(output.console, "is_interactive", True)


def test_cohort_add_reports_the_trials_it_validates(
    tmp_path: Path, make_cohort: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the validation (what the bar follows), tracking needs git and DVC: not here.
    monkeypatch.setattr(intake, "_track_and_commit", lambda root, raw, folder, *a: (folder, None))
    calls, progress = recorder()
    added = add_cohort_to(tmp_path / "project", make_cohort("incoming"), progress=progress)
    totals = {total for _, total, _ in calls}
    assert totals == {added.trials} and calls[-1][0] == added.trials
    assert {what for *_, what in calls} == {"validating incoming: reading trials"}


def test_cli_cohort_add_shows_the_bar(
    tmp_path: Path, make_cohort: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "_track_and_commit", lambda root, raw, folder, *a: (folder, None))
    src = make_cohort("incoming")
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    _cli_on_a_terminal(monkeypatch)
    result = CliRunner().invoke(app, ["cohort", "add", str(src), "--no-commit"])
    assert result.exit_code == 0, result.output
    assert "adding incoming: validating incoming: reading trials" in result.output
    assert "trials added to" in result.output


def test_stages_and_the_prepare_flow_draw_the_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gaitgrf tune`/`evaluate`/`prepare` run DVC stages and the flow as child processes:
    their bar is drawn there, on stderr, from the callbacks the library calls."""
    import stages.evaluate
    import stages.tune
    from gaitgrf.pipeline.evaluate import run as evaluate_run
    from gaitgrf.pipeline.tune import run as tune_run

    def fake_tune(params, arch, condition, environ, log, progress):  # type: ignore[no-untyped-def]
        progress(1, 3, f"{arch}__{condition}: trial 2 of 3")
        return {"study": "s", "best_trial": 0, "cv_val_loss": 1.0, "trials": {}, "seconds": 1}

    def fake_evaluate(params, environ, log, progress):  # type: ignore[no-untyped-def]
        progress(1, 4, "evaluating mlp__base on the test subjects")
        return {"best": {"study": "mlp__base", "rrmse_mean": 1.0}}

    monkeypatch.setattr(tune_run, "tune_stage", fake_tune)
    monkeypatch.setattr(evaluate_run, "evaluate_stage", fake_evaluate)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    params = tmp_path / "params.yaml"
    params.write_text(f"paths:\n  reports: {tmp_path / 'reports'}\n")
    assert stages.tune.main(["--arch", "mlp", "--condition", "base", "--params", str(params)]) == 0
    assert "tune: mlp__base: trial 2 of 3" in capsys.readouterr().err
    assert stages.evaluate.main(["--params", str(params)]) == 0
    assert "evaluate: evaluating mlp__base on the test subjects" in capsys.readouterr().err


def test_prepare_flow_tasks_draw_the_bar(
    tmp_path: Path,
    make_cohort: Callable[..., Path],
    raw_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.logging import disable_run_logger

    from flows.prepare import validate_task
    from gaitgrf.core.config import Params

    make_cohort("tiny")
    params = Params.model_validate(
        {"paths": {"raw": raw_dir, "validated": tmp_path / "val", "reports": tmp_path / "rep"}}
    )
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    with disable_run_logger():
        validate_task.fn(params)
    assert "validate: reading trials" in capsys.readouterr().err
