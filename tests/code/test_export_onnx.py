"""ONNX export: raw inputs in (normalisation folded into the graph), forces within 1e-4 BW of
PyTorch, for every light architecture, with and without static features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sample_factory import make_samples
from typer.testing import CliRunner

from gaitgrf import models
from gaitgrf.cli import app
from gaitgrf.models.base import ModelSpec
from gaitgrf.predictor import GrfPredictor
from gaitgrf.serving.onnx_export import (
    TOLERANCE,
    example_inputs,
    export_onnx,
    onnx_predict,
    session,
)
from gaitgrf.training.normalisation import Normaliser

onnx = pytest.importorskip("onnx")
LIGHT = ("mlp", "cnn1d", "cnn2d", "lstm", "bilstm", "gru", "cnn1d_lstm", "cnn2d_lstm")


def _predictor(arch: str, static: bool, hp: dict | None = None) -> GrfPredictor:
    torch.manual_seed(0)
    samples, _ = make_samples(subjects=4, per_subject=4, static=static)
    norm = Normaliser.fit(samples, np.arange(len(samples)))
    spec = ModelSpec(
        channels=len(norm.channels),
        length=samples.inputs.shape[2],
        static=len(norm.static_names_out),
    )
    network = models.build(arch, spec, hp or {})
    network.eval()
    condition = "subject" if static else "base"
    return GrfPredictor(arch, dict(hp or {}), condition, "stance", norm, spec.length, network)


@pytest.mark.parametrize("arch", LIGHT)
def test_light_architectures_match_pytorch(arch: str, tmp_path: Path) -> None:
    predictor = _predictor(arch, static=True)
    result = export_onnx(predictor, tmp_path / f"{arch}.onnx")
    assert result.exporter == "dynamo", result.fallback_reason
    assert result.max_abs_diff <= TOLERANCE
    # A batch size never seen at export time, with unknown (NaN) knee alignment.
    x, s = example_inputs(predictor, 33, seed=5)
    s[:5, 0] = np.nan
    got = onnx_predict(session(tmp_path / f"{arch}.onnx"), x, s)
    assert got.shape == (33, 3, predictor.length)
    np.testing.assert_allclose(got, predictor.predict_arrays(x, s), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    ("arch", "hp"), [("mlp", None), ("gru", {"fusion": "hidden"}), ("cnn1d", {"fusion": "early"})]
)
def test_other_conditions_and_fusions(arch: str, hp: dict | None, tmp_path: Path) -> None:
    base = _predictor(arch, static=False)
    result = export_onnx(base, tmp_path / "base.onnx")
    sess = session(tmp_path / "base.onnx")
    assert [i.name for i in sess.get_inputs()] == ["inputs"]  # no static input at all
    assert result.max_abs_diff <= TOLERANCE
    fused = _predictor(arch, static=True, hp=hp)
    assert export_onnx(fused, tmp_path / "fused.onnx").max_abs_diff <= TOLERANCE


def test_torchscript_exporter_and_metadata(tmp_path: Path) -> None:
    predictor = _predictor("lstm", static=True)
    result = export_onnx(predictor, tmp_path / "ts.onnx", exporter="torchscript")
    assert result.exporter == "torchscript" and result.max_abs_diff <= TOLERANCE
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "ts.onnx")).metadata_props}
    assert json.loads(meta["gaitgrf.channels"]) == list(predictor.channels)
    assert json.loads(meta["gaitgrf.static_names"]) == list(predictor.static_names)
    assert meta["gaitgrf.target_unit"] == "body weight"


def test_cli_export_onnx_from_a_bundle_folder(tmp_path: Path) -> None:
    predictor = _predictor("cnn1d", static=True)
    predictor.save(tmp_path / "study" / "model")
    out = tmp_path / "champion.onnx"
    result = CliRunner().invoke(
        app, ["export", "onnx", "--model", str(tmp_path / "study"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "max |ONNX - PyTorch|" in result.output and out.stat().st_size > 1000
    bad = CliRunner().invoke(
        app, ["export", "onnx", "--model", str(tmp_path / "nothing"), "--out", str(out)]
    )
    assert bad.exit_code == 1 and "not a model bundle folder" in bad.output
    assert "Traceback" not in bad.output
