"""`--model` only loads pickled code from the project's registry and runs unless trusted.

A crafted MLflow model directory whose `python_model.pkl` creates a file when unpickled stands
in for an attacker's payload: without `--trust-model` it is refused before anything is
unpickled; with it, the user is warned (and the payload indeed runs, which is the point).
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gaitgrf.cli import app
from gaitgrf.serving.inputs import UntrustedModelError, is_trusted_source, load_predictor

LEGACY = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_champion" / "model"


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.touch, (self.marker,))


def _crafted(tmp_path: Path) -> tuple[str, Path]:
    folder = tmp_path / "crafted"
    shutil.copytree(LEGACY, folder)
    marker = tmp_path / "payload-ran"
    (folder / "python_model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    return folder.as_uri(), marker


@pytest.mark.parametrize(
    ("model", "trusted"),
    [
        ("models:/gaitgrf@champion", True),
        ("runs:/0123/model", True),
        ("data/tuned/lstm__base/model", True),
        ("file:///tmp/x", False),
        ("s3://bucket/model", False),
        ("https://example.org/model", False),
        ("mlflow-artifacts:/1/model", False),
    ],
)
def test_trusted_sources(model: str, trusted: bool) -> None:
    assert is_trusted_source(model) is trusted


def test_crafted_model_directory_is_refused_before_unpickling(tmp_path: Path) -> None:
    uri, marker = _crafted(tmp_path)
    with pytest.raises(UntrustedModelError, match="outside this project's registry"):
        load_predictor(uri)
    assert not marker.exists()
    result = CliRunner().invoke(
        app,
        ["predict", str(tmp_path / "rec.c3d"), "--out", str(tmp_path / "o.csv"), "--model", uri],
    )
    assert result.exit_code == 1 and "--trust-model" in result.output
    assert "Traceback" not in result.output and not marker.exists()


def test_trust_model_loads_with_a_warning(tmp_path: Path) -> None:
    uri, marker = _crafted(tmp_path)
    warnings: list[str] = []
    with pytest.raises(Exception):  # noqa: B017 (the payload is no gaitgrf model)
        load_predictor(uri, trust=True, warn=warnings.append)
    assert marker.exists()  # what --trust-model allows: the pickled code ran
    assert warnings and "pickled code runs" in warnings[0]
