"""`gaitgrf export onnx`: the champion as an ONNX file for use outside Python."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gaitgrf.cli.errors import ErrorGroup
from gaitgrf.cli.options import ModelOption, ParamsOption, TrustModelOption, load_model, read_params
from gaitgrf.cli.output import console, err_console

app = typer.Typer(
    cls=ErrorGroup,
    help="Export the champion for use outside Python (wearables, edge devices).",
    no_args_is_help=True,
)


class OnnxExporter(StrEnum):
    auto = "auto"
    dynamo = "dynamo"
    torchscript = "torchscript"


@app.command("onnx")
def export_onnx_command(
    out: Annotated[Path, typer.Option("--out", help="ONNX file to write.", dir_okay=False)],
    model: ModelOption = "models:/gaitgrf@champion",
    trust_model: TrustModelOption = False,
    exporter: Annotated[
        OnnxExporter, typer.Option(help="torch exporter (auto: dynamo, else TorchScript).")
    ] = OnnxExporter.auto,
    params: ParamsOption = None,
) -> None:
    """Write the model as ONNX taking raw inputs (normalisation inside), checked against PyTorch."""

    from gaitgrf.serving.onnx_export import export_onnx

    cfg = read_params(params)
    predictor = load_model(model, cfg, trust_model)
    with err_console.status("exporting") as status:
        result = export_onnx(
            predictor,
            out,
            exporter=None if exporter is OnnxExporter.auto else exporter.value,
            report=lambda line: status.update(escape(line)),
        )
    if result.fallback_reason:
        console.print(f"  fell back to {result.exporter}: {escape(result.fallback_reason)}")
    inputs = "inputs (N, C, T)" + (", static (N, S)" if predictor.static_names else "")
    console.print(
        f"{escape(str(result.path))}: {predictor.architecture} ({result.exporter} exporter), "
        f"{inputs} raw -> forces (N, 3, T) BW; max |ONNX - PyTorch| = "
        f"{result.max_abs_diff:.1e} BW; {result.seconds:.1f} s"
    )
