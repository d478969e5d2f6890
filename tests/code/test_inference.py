"""`gaitgrf predict`: per-step GRF from wearable-detected steps, with a real registry champion.

The champion is trained in the test session on a tiny synthetic cohort (tests/champion_factory.py).
On the shared real recordings (markers only: virtual accelerometers) accuracy is not asserted,
only shapes, files and the error lines; on an unseen synthetic trial the error must be sensible.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from champion_factory import Champion, session_champion
from typer.testing import CliRunner

from gaitgrf.cli import app
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.serving.inference import predict_trial
from gaitgrf.serving.inputs import (
    InferenceError,
    ModelNotFoundError,
    SubjectInfo,
    load_predictor,
    read_input,
    subject_from_file,
)
from gaitgrf.serving.steps import static_inputs

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ERROR_LINE = re.compile(
    r"^\s*(vertical|anterior|lateral): r=-?\d\.\d\d rmse=\d+\.\d{3} BW rrmse=\d+\.\d%$"
)
runner = CliRunner()
shared_data = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared data at {SHARED}")


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    return session_champion(tmp_path_factory)


@pytest.fixture
def params(champion: Champion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A params file whose paths.mlflow_db is the champion's registry (no env override)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"paths": {"mlflow_db": str(champion.root / "mlflow.db")}}))
    return path


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if ERROR_LINE.match(line)]


def test_unseen_synthetic_trial_has_a_sensible_error(champion: Champion) -> None:
    predictor = load_predictor("models:/gaitgrf@champion", champion.tracking_uri)
    loaded = read_input(champion.unseen_trial)
    subject = subject_from_file(champion.unseen_subjects, champion.unseen_subject_id)
    result = predict_trial(predictor, loaded.trial, subject.merged(loaded.subject))
    n = len(result.side)
    assert n >= 6 and set(result.side) == {"l", "r"}
    assert result.forces_bw.shape == (n, 3, 101) and np.isfinite(result.forces_bw).all()
    assert np.all(result.toe_off_s - result.heel_strike_s > 0.3)
    forces_n = result.forces_n
    assert forces_n is not None
    assert np.allclose(forces_n, result.forces_bw * subject.mass_kg * GRAVITY)
    assert result.metrics is not None and result.measured_steps >= n - 2
    m = result.metrics
    assert all(np.isfinite(v) for v in m.values())
    # A model trained for seconds on 8 subjects, scored on one unseen subject: far from the
    # paper's figures, but it must have learnt the shape of the curves (an untrained network
    # gives r ~ 0 and rRMSE ~ 100 %). Measured: r 0.81 / 24.6 % with all nine joint angles,
    # 0.80 / 23.9 % with the default flexion angles; one subject's r moves by more than that
    # between generator versions, so the bound sits well clear of both.
    assert m["vertical_r"] > 0.7 and m["vertical_rrmse"] < 30.0, m
    assert m["anterior_r"] > 0.6, m
    peak = result.forces_bw[:, 0].max(axis=1)
    assert np.all((peak > 0.7) & (peak < 1.6)), peak
    lines = result.error_lines()
    assert [line.split(":")[0] for line in lines] == ["vertical", "anterior", "lateral"]


@shared_data
def test_cli_predict_real_c3d_with_plates(champion: Champion, params: Path, tmp_path: Path) -> None:
    """Plug-in Gait C3D: markers only (virtual accelerometers), body mass in the file, plates."""
    out = tmp_path / "pig.csv"
    args = [
        "predict",
        str(SHARED / "c3d" / "btk_PiG_Motion-FlatFoot-Full.c3d"),
        "--out",
        str(out),
        "--affected-side",
        "none",
        "--params",
        str(params),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    print(result.output)
    assert "47.5 kg" in result.output
    lines = _error_lines(result.output)
    assert [line.split(":")[0].strip() for line in lines] == ["vertical", "anterior", "lateral"]
    table = pd.read_csv(out)
    assert out.with_suffix(".png").stat().st_size > 10_000
    steps = table["step"].nunique()
    assert steps >= 2 and len(table) == steps * 101
    for col in ("vertical_bw", "anterior_bw", "lateral_bw", "vertical_n", "measured_vertical_bw"):
        assert col in table.columns
    assert np.isfinite(table["vertical_bw"]).all()
    assert np.allclose(table["vertical_n"], table["vertical_bw"] * 47.5 * GRAVITY, rtol=1e-4)
    assert table["measured_vertical_bw"].notna().sum() >= 101  # at least one step on a plate


@shared_data
def test_cli_predict_unwritable_out_is_one_clear_line(champion: Champion, params: Path) -> None:
    """/proc takes no new file even from root: a real read-only place, as a full disk would be."""
    args = ["predict", str(SHARED / "c3d" / "btk_PiG_Motion-FlatFoot-Full.c3d")]
    args += ["--out", "/proc/gaitgrf-out/pig.csv", "--affected-side", "none"]
    result = runner.invoke(app, [*args, "--params", str(params)])
    assert result.exit_code == 1, result.output
    assert "/proc/gaitgrf-out/pig.csv: cannot write" in result.output
    assert "Traceback" not in result.output


@shared_data
def test_cli_predict_opensim_without_mass_is_bw_only(
    champion: Champion, params: Path, tmp_path: Path
) -> None:
    """OpenSim trial, local bundle folder, no mass: BW only, said clearly, no error lines."""
    out = tmp_path / "walking2.parquet"
    trc = SHARED / "opensim" / "Subject4" / "walking2.trc"
    base = [
        "predict",
        str(trc),
        "--model",
        str(champion.bundle_dir.parent),
        "--params",
        str(params),
    ]
    result = runner.invoke(app, [*base, "--out", str(out), "--affected-side", "left"])
    assert result.exit_code == 0, result.output
    assert "body mass unknown" in result.output and "body weights only" in result.output
    assert not _error_lines(result.output)
    table = pd.read_parquet(out)
    assert "vertical_n" not in table.columns and len(table) % 101 == 0 and len(table)
    assert out.with_suffix(".png").is_file()
    # With the mass, the same recording reports its error against the plates.
    result = runner.invoke(
        app, [*base, "--out", str(out), "--affected-side", "left", "--mass-kg", "62.6"]
    )
    assert result.exit_code == 0, result.output
    print(result.output)
    assert len(_error_lines(result.output)) == 3


def test_subject_model_needs_the_affected_side(
    champion: Champion, params: Path, tmp_path: Path
) -> None:
    args = ["predict", str(champion.unseen_trial), "--out", str(tmp_path / "x.csv")]
    result = runner.invoke(app, [*args, "--params", str(params)])
    assert result.exit_code == 1
    assert "affected side" in result.output and "Traceback" not in result.output
    assert "--affected-side" in result.output


def test_clear_errors(champion: Champion, params: Path, tmp_path: Path) -> None:
    args = ["predict", str(champion.unseen_trial), "--params", str(params)]
    bad_suffix = runner.invoke(
        app, [*args, "--out", str(tmp_path / "x.txt"), "--affected-side", "none"]
    )
    assert bad_suffix.exit_code == 1 and ".csv or .parquet" in bad_suffix.output
    no_model = runner.invoke(
        app, [*args, "--out", str(tmp_path / "x.csv"), "--model", "models:/nothing@champion"]
    )
    assert no_model.exit_code == 1 and "models:/nothing@champion" in no_model.output
    assert "hint:" in no_model.output and "Traceback" not in no_model.output
    with pytest.raises(ModelNotFoundError, match="not a model bundle folder"):
        load_predictor(str(tmp_path))
    with pytest.raises(InferenceError, match="affected side 'up'"):
        SubjectInfo(affected_side="up").check()


def test_static_features_follow_fuse(champion: Champion) -> None:
    """Ipsi/contra knee alignment swap with the foot; unknown alignment stays NaN."""
    names = ("hka_ipsi_deg", "hka_contra_deg", "ipsi_is_affected", "ipsi_is_left")
    subject = SubjectInfo(knee_alignment_left_deg=-4.0, affected_side="right")
    static = static_inputs(names, np.array(["l", "r"]), subject)
    assert static[0, 0] == -4.0 and np.isnan(static[0, 1]) and np.isnan(static[1, 0])
    assert static[1, 1] == -4.0
    assert list(static[:, 2]) == [0.0, 1.0] and list(static[:, 3]) == [1.0, 0.0]


def test_window_model_is_cut_into_the_detected_steps(champion: Champion) -> None:
    """A window-layout model (1 s windows): overlapping predictions averaged, then per step."""
    import torch

    from gaitgrf import models
    from gaitgrf.models.base import ModelSpec
    from gaitgrf.predictor import GrfPredictor

    stance = load_predictor(str(champion.bundle_dir))
    torch.manual_seed(0)
    spec = ModelSpec(len(stance.channels), 100, len(stance.normaliser.static_names_out))
    network = models.build("cnn1d", spec, {})
    network.eval()
    window = GrfPredictor("cnn1d", {}, stance.condition, "window", stance.normaliser, 100, network)
    loaded = read_input(champion.unseen_trial)
    subject = subject_from_file(champion.unseen_subjects, champion.unseen_subject_id)
    lines: list[str] = []
    result = predict_trial(window, loaded.trial, subject, report=lines.append)
    assert result.layout == "window" and any("windows" in line for line in lines)
    assert result.forces_bw.shape == (len(result.side), 3, 101)
    assert np.isfinite(result.forces_bw).all() and result.metrics is not None
