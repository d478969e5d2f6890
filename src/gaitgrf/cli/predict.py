"""`gaitgrf predict`: per-step forces of one recording from a registered or bundled model.

docs/inference.md. torch, MLflow and the readers load only when the command runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from gaitgrf.cli.options import ModelOption, ParamsOption, TrustModelOption, read_params
from gaitgrf.cli.output import console, err_console, warn_trusted

if TYPE_CHECKING:
    from gaitgrf.core.config import Params
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
        str | None, typer.Option(help="Row of the subjects file [default: its only row].")
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
    _predict_recording(recording, out, model, given, cfg, trust_model)


def _predict_recording(
    recording: Path,
    out: Path,
    model: str,
    given: SubjectInfo,
    cfg: Params,
    trust_model: bool,
) -> None:
    """Load the model, read the recording, predict, write the outputs, print the summary."""
    import os

    from gaitgrf.runtime import tracking_uri
    from gaitgrf.serving.inference import predict_trial
    from gaitgrf.serving.inputs import load_predictor, read_input
    from gaitgrf.serving.outputs import summary_lines, write_outputs

    start = time.perf_counter()
    with err_console.status(f"loading model {escape(model)}"):
        predictor = load_predictor(
            model, tracking_uri(cfg, os.environ), trust=trust_model, warn=warn_trusted
        )
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
    console.print(
        f"wrote {', '.join(escape(str(p)) for p in paths)} in {time.perf_counter() - start:.1f} s"
    )
