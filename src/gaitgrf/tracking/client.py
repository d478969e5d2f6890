"""MLflow: experiments, runs, logged models and the model registry, through one explicit client.

Everything goes through `MlflowClient` with run ids passed explicitly (never the fluent
active-run stack, which is per thread and turns nested runs into top-level ones from workers).
The only fluent call is `log_model`, wrapped in `mlflow.start_run(run_id=...)` for the run that
owns the model.

Experiment layout (docs/tuning.md, "MLflow layout"):
* `gaitgrf-tuning`: one parent run per study (`<arch>__<condition>`), a child run per Optuna
  trial and a child `refit` run that owns the logged model;
* `gaitgrf-evaluation`: one run per refit model on the held-out test subjects plus one
  `comparison` run with the report, the tables and the plots;
* `gaitgrf-retraining`: one run per retrain (gaitgrf.pipeline.retrain).

`gaitgrf ui` prints a link to each one's runs table (`runs_table_url`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gaitgrf.core.errors import GaitGrfError
from gaitgrf.tracking.conventions import (
    EVALUATION_EXPERIMENT,
    EXPERIMENT_NOTES,
    NOTE_TAG,
    RETRAIN_EXPERIMENT,
    TUNING_EXPERIMENT,
    logged_model_id,
    logged_model_names,
    pip_requirements,
    project_experiment_ids,
    runs_table_url,
    source_tags,
)
from gaitgrf.tracking.location import location_tags

#: Re-exported from `tracking.conventions`, where they live, for the existing importers.
__all__ = [
    "EVALUATION_EXPERIMENT",
    "RETRAIN_EXPERIMENT",
    "TUNING_EXPERIMENT",
    "Tracker",
    "fluent_uris",
    "logged_model_id",
    "pip_requirements",
    "project_experiment_ids",
    "runs_table_url",
    "source_tags",
    "sqlite_uri",
]

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

PARENT_TAG: Final = "mlflow.parentRunId"
#: Tag prefix of everything gaitgrf writes (`gaitgrf.study`, `gaitgrf.data_version`, ...).
TAG: Final = "gaitgrf."


class TrackingError(GaitGrfError):
    hint = "check the MLflow tracking URI (paths.mlflow_db or MLFLOW_TRACKING_URI)"


#: What MLflow's fluent setters write into the environment.
_MLFLOW_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def fluent_uris(uri: str) -> Iterator[None]:
    """Point MLflow's global (fluent) tracking *and* registry URIs at `uri`, then restore both.

    `mlflow.pyfunc.load_model("models:/...")` and `log_model` only know the globals; a registry
    URI left behind by other code would silently resolve `models:/gaitgrf@champion` elsewhere.
    Restoring an unset registry URI leaves it unset (it then follows the tracking URI).
    `mlflow.set_tracking_uri` also writes `MLFLOW_TRACKING_URI` into this process's environment
    (for subprocesses); that is restored too, or every later child process (a `dvc repro`, a
    stage) would inherit a store that was only meant for this one call.
    """
    import os

    import mlflow
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    saved_env = {k: os.environ.get(k) for k in _MLFLOW_URI_ENV}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri = saved[0]
        registry_utils._registry_uri = saved[1]
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sqlite_uri(path: Path) -> str:
    """SQLite URI with an absolute path: stages run from different working directories."""
    return f"sqlite:///{path.resolve()}"


#: MLflow hints that do not apply to gaitgrf's logged models, filtered while logging them (two
#: lines per study otherwise, in every `dvc repro`): the integer columns of the long format
#: (sample and point numbers) are never missing, so they cannot turn into floats at inference
#: time, and the signature is given explicitly, so none is inferred from type hints. (`predict`'s
#: own "Add type hints" hint is avoided at its source, `gaitgrf.predictor.PyfuncModel`: MLflow
#: raises it under a warning filter of its own.) `.*` skips the colour codes MLflow puts first.
_SIGNATURE_HINTS: Final = (
    r".*Hint: Inferred schema contains integer column",
    r".*Failed to infer signature from type hint",
)


def _quiet_signature_hints() -> None:
    """Ignore `_SIGNATURE_HINTS` (call inside `warnings.catch_warnings()`)."""
    for message in _SIGNATURE_HINTS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)


class Tracker:
    """One MLflow tracking + registry store and where new experiments keep their artifacts."""

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: Path | str | None = None,
        source: Mapping[str, str] | None = None,
    ) -> None:
        """`source`: tags every run started here carries (`source_tags`), under its own."""
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.source_tags = dict(source or {})
        self.client: MlflowClient = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        self._experiments: dict[str, str] = {}

    # --- experiments and runs ------------------------------------------------------------------
    def experiment(self, name: str) -> str:
        if name in self._experiments:
            return self._experiments[name]
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            exp_id = str(found.experiment_id)
            if name in EXPERIMENT_NOTES and not (found.tags or {}).get(NOTE_TAG):
                self.client.set_experiment_tag(exp_id, NOTE_TAG, EXPERIMENT_NOTES[name])
        else:
            location = None
            # Behind a tracking server, the server's artifact store (proxied) is the place.
            if self.artifact_root is not None and not self.tracking_uri.startswith(
                ("http://", "https://")
            ):
                root = str(self.artifact_root)
                location = root if "://" in root else Path(root).resolve().joinpath(name).as_uri()
            note = {NOTE_TAG: EXPERIMENT_NOTES[name]} if name in EXPERIMENT_NOTES else {}
            # Recorded relative to the database as well: moved stores relocate (tracking.location).
            tags = {**note, **location_tags(self.tracking_uri, location)}
            exp_id = str(
                self.client.create_experiment(name, artifact_location=location, tags=tags or None)
            )
        self._experiments[name] = exp_id
        return exp_id

    def find_run(self, experiment: str, tags: Mapping[str, str]) -> Run | None:
        """The newest run of `experiment` carrying all `tags`, or None."""
        query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        runs = self.client.search_runs(
            [self.experiment(experiment)],
            filter_string=query,
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0] if runs else None

    def start_run(
        self,
        experiment: str,
        name: str,
        tags: Mapping[str, str] | None = None,
        parent: str | None = None,
        note: str | None = None,
    ) -> str:
        """Create a run; `note` is its description in the UI (`mlflow.note.content`)."""
        all_tags = {**self.source_tags, **(tags or {})}
        if note:
            all_tags[NOTE_TAG] = note
        if parent:
            all_tags[PARENT_TAG] = parent
        run = self.client.create_run(self.experiment(experiment), run_name=name, tags=all_tags)
        return str(run.info.run_id)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def resume_run(self, run_id: str) -> None:
        """Mark a run running again (a resumed study keeps its parent run)."""
        self.client.update_run(run_id, status="RUNNING")

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(run_id).data.params
        new = [Param(k, str(v)) for k, v in params.items() if k not in existing]
        if new:
            self.client.log_batch(run_id, params=new)

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int | None = None,
        *,
        model_id: str | None = None,
        dataset: tuple[str, str] | None = None,
    ) -> None:
        """Log `metrics` on the run and, with `model_id`, on that logged model as well (its
        page's Metrics, with the run and the `dataset` (name, digest) they were measured on)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        name, digest = dataset or (None, None)
        batch = [
            Metric(k, float(v), now, step or 0, model_id, name, digest) for k, v in metrics.items()
        ]
        if batch:
            self.client.log_batch(run_id, metrics=batch)

    def log_model_input(self, run_id: str, model_id: str) -> bool:
        """Record the logged model `model_id` as an input of the run (an evaluation uses it);
        False, and nothing logged, when this store holds no such model (a stale model URI)."""
        from mlflow.entities import LoggedModelInput
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_logged_model(model_id)
        except MlflowException:
            return False
        self.client.log_inputs(run_id, models=[LoggedModelInput(model_id)])
        return True

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(k, str(v)) for k, v in tags.items()]
        if batch:
            self.client.log_batch(run_id, tags=batch)

    def log_dataset(
        self, run_id: str, name: str, data_version: str, context: str, file: str
    ) -> None:
        """Log the fused data a run used as an MLflow dataset input (the run page's Datasets).

        The digest is DVC's hash of `data/fused` (`data_digest`), so a dataset in MLflow and a
        `dvc.lock` entry are matched by eye; `file` names the set inside it.
        """
        import json

        from mlflow.entities import Dataset, DatasetInput, InputTag

        from gaitgrf.tracking.conventions import DATASET_CONTEXT_TAG, data_digest

        source = {"stage": "fuse", "file": file, "data_version": data_version}
        dataset = Dataset(name, data_digest(data_version), "dvc", json.dumps(source))
        tag = InputTag(DATASET_CONTEXT_TAG, context)
        self.client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags=[tag])])

    def log_artifacts(self, run_id: str, paths: Sequence[Path], folder: str | None = None) -> None:
        for path in paths:
            if path.is_dir():
                self.client.log_artifacts(run_id, str(path), folder)
            elif path.exists():
                self.client.log_artifact(run_id, str(path), folder)

    # --- models --------------------------------------------------------------------------------
    def log_grf_model(
        self,
        run_id: str,
        bundle_dir: Path,
        input_example: Any,
        network_example: tuple[Any, Any],
        pip_requirements: Sequence[str],
        *,
        study: str,
    ) -> str:
        """Log the pyfunc model (raw inputs) and the bare network, named after `study`
        (`logged_model_names`: `<study>` and `<study>-network`).

        Returns the URI of the pyfunc model (what gets registered): it carries the normaliser,
        so whoever loads it feeds raw channels.
        """
        import mlflow
        import mlflow.pyfunc
        import mlflow.pytorch
        from mlflow.models import infer_signature

        from gaitgrf.predictor import GrfPredictor, PyfuncModel

        predictor = GrfPredictor.load(bundle_dir)
        output_example = predictor.predict_frame(input_example)
        model_name, network_name = logged_model_names(study)
        with (
            fluent_uris(self.tracking_uri),
            mlflow.start_run(run_id=run_id),
            warnings.catch_warnings(),
        ):
            _quiet_signature_hints()
            info = mlflow.pyfunc.log_model(
                name=model_name,
                python_model=PyfuncModel.make(),
                artifacts={"bundle": str(bundle_dir)},
                signature=infer_signature(input_example, output_example),
                input_example=input_example,
                pip_requirements=list(pip_requirements),
            )
            x, s = network_example
            import torch

            with torch.no_grad():
                y = predictor.network(torch.as_tensor(x), torch.as_tensor(s)).numpy()
            # The bare network takes normalised (inputs, static): for fine-tuning and export.
            # `pickle`: MLflow's default pt2 export cannot trace two-input models.
            mlflow.pytorch.log_model(
                predictor.network,
                name=network_name,
                signature=infer_signature({"inputs": x, "static": s}, y),
                pip_requirements=list(pip_requirements),
                serialization_format="pickle",
            )
        return str(info.model_uri)

    # --- registry ------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        model_uri: str,
        run_id: str,
        tags: Mapping[str, Any],
        description: str | None = None,
    ) -> str:
        """Register the logged model `model_uri` as a new version of `name`, linked both ways.

        The version points at the logged model through its source `models:/m-<id>` and
        `model_id` (a database registry stores only the source; a server both) and at the
        refit run through `run_id`; the logged model points back at the version through its
        `mlflow.modelVersions` tag, which its page reads ("Registered versions"). MLflow 3.17
        writes that tag only in `mlflow.register_model` (client side) and in a tracking server's
        create-version handler; `create_model_version` against a database store does not, so
        `link_version` does it. `description` is the version's (`describe_version`).
        """
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)
        model_id = logged_model_id(model_uri)
        # MLflow resolves a `models:/` source through the *global* tracking URI, not the client's.
        with fluent_uris(self.tracking_uri):
            version = self.client.create_model_version(
                name,
                model_uri,
                run_id=run_id,
                tags={k: str(v) for k, v in tags.items()},
                description=description,
                model_id=model_id,
            )
        if model_id is not None:
            self.link_version(name, str(version.version), model_id)
        return str(version.version)

    def link_version(self, name: str, version: str, model_id: str) -> None:
        """Add `name` v`version` to the logged model's `mlflow.modelVersions` tag, once.

        Idempotent (a tracking server may have written the entry already, and a version reused
        by a later promotion is linked again): the same store-side rule as MLflow's
        `set_model_versions_tags`, through public client calls so it works on any store.
        """
        import json

        from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

        entry = {"name": name, "version": str(version)}
        current = self.client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS)
        linked: list[dict[str, str]] = json.loads(current) if current else []
        if entry not in linked:
            self.client.set_logged_model_tags(
                model_id, {MLFLOW_MODEL_VERSIONS: json.dumps([*linked, entry])}
            )

    def describe_model(self, name: str, description: str) -> None:
        """Set the registered model's description (its page's "Description")."""
        self.client.update_registered_model(name, description=description)

    def describe_version(self, name: str, version: str, description: str) -> None:
        """Set a version's description (a reused version gets its latest numbers)."""
        self.client.update_model_version(name, version, description=description)

    def alias_version(self, name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def tag_version(self, name: str, version: str, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, str(value))

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of `name`, oldest first, with its aliases and tags."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(name)
        except MlflowException:
            return []
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        found = self.client.search_model_versions(f"name = '{name}'")
        rows = [
            {
                "version": str(v.version),
                "aliases": sorted(aliases.get(str(v.version), [])),
                "run_id": v.run_id,
                # a database registry keeps no model_id column: the source names the model
                "model_id": v.model_id or logged_model_id(v.source or ""),
                "source": v.source,
                "created": v.creation_timestamp,
                "tags": dict(v.tags or {}),
            }
            for v in found
        ]
        return sorted(rows, key=lambda r: int(r["version"]))

    def model_uri(self, name: str, version: str) -> str:
        return f"models:/{name}/{version}"
