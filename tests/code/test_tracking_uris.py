"""`fluent_uris`: registry lookups go to the tracker's store, whatever another caller pinned."""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.tracking._model_registry.utils as registry_utils
import pytest

from gaitgrf.tracking.client import fluent_uris, sqlite_uri


def test_fluent_uris_overrides_a_pinned_registry_and_restores_it(tmp_path: Path) -> None:
    elsewhere = sqlite_uri(tmp_path / "elsewhere.db")
    ours = sqlite_uri(tmp_path / "ours.db")
    saved = registry_utils._registry_uri
    mlflow.set_registry_uri(elsewhere)  # what some other code left behind
    try:
        with fluent_uris(ours):
            assert mlflow.get_tracking_uri() == ours
            assert mlflow.get_registry_uri() == ours
        assert mlflow.get_registry_uri() == elsewhere
    finally:
        registry_utils._registry_uri = saved


@pytest.mark.parametrize("before", [None, "sqlite:////somewhere/else.db"])
def test_fluent_uris_leaves_the_environment_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str | None
) -> None:
    """MLflow's setter exports MLFLOW_TRACKING_URI; child processes started later must not see
    a store that was pinned for one call (a stage subprocess then dialled a stopped server)."""
    import os

    if before is None:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", before)
    with fluent_uris(sqlite_uri(tmp_path / "mlflow.db")):
        assert os.environ["MLFLOW_TRACKING_URI"].endswith("mlflow.db")
    assert os.environ.get("MLFLOW_TRACKING_URI") == before
