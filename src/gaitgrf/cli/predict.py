"""`gaitgrf predict`: per-step forces of one recording from a registered or bundled model.

docs/inference.md. torch, MLflow and the readers load only when the command runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from gaitgrf.cli.options import ModelOption, ParamsOption, TrustModelOption, load_model, read_params
from gaitgrf.cli.output import console, err_console

if TYPE_CHECKING:
    from gaitgrf.core.config import Params
    from gaitgrf.io.trial_file import Trial
    from gaitgrf.predictor import GrfPredictor
    from gaitgrf.serving.inputs import SubjectInfo


def predict(
    recording: Annotated[
        Path,
        typer.Argument(
            help="A recording (.c3d, .trc, .csv/.parquet with a column mapping) or a contract "
            "trial file (.parquet).",
            dir_okay=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Table to write: .csv or .parquet (a .png plot goes beside it)."
        ),
    ],
    model: ModelOption = "models:/gaitgrf@champion",
    trust_model: TrustModelOption = False,
    subjects: Annotated[
        Path | None,
        typer.Option(
            "--subjects", help="CSV: subject_id and any subjects.csv columns.", dir_okay=False
        ),
    ] = None,
    subject_id: Annotated[
        str | None, typer.Option(help="Row of the subjects file.", show_default="its only row")
    ] = None,
    mass_kg: Annotated[
        float | None, typer.Option(help="Body mass, kg (forces in N; error against plates).")
    ] = None,
    height_m: Annotated[float | None, typer.Option(help="Height, m.")] = None,
    age_years: Annotated[float | None, typer.Option(help="Age, years.")] = None,
    sex: Annotated[str | None, typer.Option(help="female or male.")] = None,
    knee_alignment_left: Annotated[
        float | None, typer.Option(help="Left knee HKA angle, deg, varus negative.")
    ] = None,
    knee_alignment_right: Annotated[
        float | None, typer.Option(help="Right knee HKA angle, deg, varus negative.")
    ] = None,
    affected_side: Annotated[
        str | None, typer.Option(help="left, right or none (models with subject features).")
    ] = None,
    params: ParamsOption = None,
    diagnose: Annotated[
        bool,
        typer.Option(
            "--diagnose",
            help="Also separate the error's sources (needs plates and the body mass): model vs "
            "physics baseline on wearable vs plate steps, event timing, input shift. Written to "
            "<out>.diagnosis.json.",
        ),
    ] = False,
) -> None:
    """Per-step 3D GRF of a recording from its wearable signals; no force plate needed.

    Steps come from the accelerometers alone (virtual ones from markers when the recording has
    none). Subject values: flags, then the subjects file, then the recording (C3D body mass).
    When the recording has force plates, the error against them is printed per component.
    """
    from gaitgrf.serving.inputs import SubjectInfo, subject_from_file

    cfg = read_params(params)
    given = SubjectInfo(
        subject_id=subject_id,
        mass_kg=mass_kg,
        height_m=height_m,
        age_years=age_years,
        sex=sex,
        knee_alignment_left_deg=knee_alignment_left,
        knee_alignment_right_deg=knee_alignment_right,
        affected_side=affected_side,
    )
    if subjects is not None:
        given = given.merged(subject_from_file(subjects, subject_id))
    given.check()
    _predict_recording(recording, out, model, given, cfg, trust_model, diagnose)


def _predict_recording(
    recording: Path,
    out: Path,
    model: str,
    given: SubjectInfo,
    cfg: Params,
    trust_model: bool,
    diagnose: bool = False,
) -> None:
    """Load the model, read the recording, predict, write the outputs, print the summary."""

    from gaitgrf.serving.inference import predict_trial
    from gaitgrf.serving.inputs import read_input
    from gaitgrf.serving.outputs import summary_lines, write_outputs

    start = time.perf_counter()
    predictor = load_model(model, cfg, trust_model)
    with err_console.status(f"reading {escape(str(recording))}"):
        loaded = read_input(recording, given)
    subject = given.merged(loaded.subject)
    for note in loaded.notes:
        console.print(f"  {escape(note)}")
    with err_console.status("predicting") as status:
        prediction = predict_trial(
            predictor,
            loaded.trial,
            subject,
            cfg.resample,
            report=lambda line: status.update(escape(line)),
        )
        paths = write_outputs(prediction, out, title=f"{recording.name} ({predictor.architecture})")
    for line in summary_lines(prediction):
        console.print(escape(line))
    if diagnose:
        paths.append(_diagnose(predictor, loaded.trial, subject, cfg, out))
    console.print(
        f"wrote {', '.join(escape(str(p)) for p in paths)} in {time.perf_counter() - start:.1f} s"
    )


def _diagnose(
    predictor: GrfPredictor, trial: Trial, subject: SubjectInfo, cfg: Params, out: Path
) -> Path:
    """Print the diagnosis and write it beside the table as JSON."""
    import json

    from gaitgrf.serving.diagnosis import diagnose_trial

    with err_console.status("diagnosing (oracle steps, physics baseline, input shift)"):
        diagnosis = diagnose_trial(predictor, trial, subject, cfg.resample)
    for line in diagnosis.lines():
        console.print(escape(line))
    path = out.with_name(out.name + ".diagnosis.json")
    path.write_text(json.dumps(diagnosis.as_dict(), indent=2) + "\n")
    return path


def transfer(
    recordings: Annotated[
        Path,
        typer.Argument(
            help="CSV with columns recording (path under --root) and subject_id.", dir_okay=False
        ),
    ],
    subjects: Annotated[
        Path,
        typer.Option(
            "--subjects",
            help="Subjects CSV (subject_id, mass_kg, affected_side, ...).",
            dir_okay=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Markdown report to write (.md).")],
    root: Annotated[
        Path | None,
        typer.Option(
            help="Folder the recordings lie under.",
            show_default="the list's folder",
            file_okay=False,
        ),
    ] = None,
    model: ModelOption = "models:/gaitgrf@champion",
    trust_model: TrustModelOption = False,
    params: ParamsOption = None,
) -> None:
    """Diagnose a model on a set of recordings with force plates: one table, medians first.

    For each recording: the model and the physics baseline on wearable and on plate steps, and
    the wearable event errors (docs/inference.md, "Diagnosis"). A recording that fails becomes a
    row with its reason.
    """

    from gaitgrf.serving.transfer import markdown, read_recording_list
    from gaitgrf.serving.transfer import transfer as run_transfer

    cfg = read_params(params)
    listed = read_recording_list(recordings, root)
    predictor = load_model(model, cfg, trust_model)
    with err_console.status("diagnosing") as status:
        results = run_transfer(
            predictor,
            listed,
            subjects,
            cfg.resample,
            progress=lambda name: status.update(f"diagnosing {escape(name)}"),
        )
    title = f"Transfer of {predictor.architecture} ({model}) to {len(listed)} recording(s)"
    report = markdown(results, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    console.print(escape(report.split("\n\n## ")[0]))
    failed = [r for r in results if r.diagnosis is None]
    for r in failed:
        console.print(f"[yellow]{escape(r.recording)}: {escape(r.error or '')}[/yellow]")
    console.print(f"wrote {escape(str(out))}")
