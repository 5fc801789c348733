"""Models in MLflow: each cell's model as a pyfunc model logged from code (safetensors +
JSON, no pickle), the Model Registry, and any model reference resolved to a local folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import benchmark
from benchmark.errors import ModelIntegrityError, TrackingError
from benchmark.models._names import CONFIG_FILE, WEIGHTS_FILE
from benchmark.track._connection import StoreBase
from benchmark.track._keys import SHA_TAG, TAG

MODEL = "model"  # the logged model's name on its run: runs:/<run id>/model
SHA_KEY = "weights_sha256"  # the same record as SHA_TAG in the logged model's own config.json
_PACKAGE = Path(benchmark.__file__).parent
_CODE = _PACKAGE / "serve" / "mlflow_model.py"
# What the served model's code imports, where medbench is not installed as a distribution
# (its metadata lists the rest otherwise)
_FALLBACK_REQUIREMENTS = [
    "torch", "timm", "safetensors", "numpy", "pandas", "pillow", "mlflow", "pydantic",
    "lazy-loader", "opencv-python-headless", "pydicom", "captum", "scikit-image", "grad-cam",
]  # fmt: skip


def log_model(client: Any, run_id: str, *, folder: Path) -> str:
    """Log ``folder`` (``model.safetensors`` + ``config.json``) as the pyfunc model of run
    ``run_id`` and return its model id (``RunLog.log_model``).

    The model is the code of ``benchmark/serve/mlflow_model.py`` with the medbench package
    beside it, so it loads where medbench is not installed; its signature takes one ``image``
    column and returns the answer (``label`` and ``confidence``, with ``threshold`` for a
    binary model; ``labels``, a list, for a multi-label one: the task in ``config.json``)
    and a probability per class. The logged
    ``config.json`` and the run's ``medbench.weights_sha256`` tag record the sha256 of the
    weights, checked by every load (editing the artifacts does not change the tag).
    """
    import tempfile

    import mlflow
    from mlflow.models import Model, ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    config = json.loads((folder / CONFIG_FILE).read_text())
    classes = config["classes"]
    config[SHA_KEY] = weights_sha256(folder)
    signature = ModelSignature(
        inputs=Schema([ColSpec(AnyType(), "image")]),
        outputs=Schema(
            [
                *_answer_columns(config),
                *(ColSpec("double", name) for name in classes),
            ]
        ),
    )
    experiment_id = client.get_run(run_id).info.experiment_id
    logged = client.create_logged_model(experiment_id, name=MODEL, source_run_id=run_id)
    mlflow.set_tracking_uri(client.tracking_uri)  # Model.log writes through the global store
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), _pinned_as_installed():
        recorded = Path(tmp) / CONFIG_FILE
        recorded.write_text(json.dumps(config, indent=2, sort_keys=True))
        # MLflow's advice on type hints and input examples
        warnings.filterwarnings("ignore", message=".*(type hints|input example).*")
        Model.log(
            None,
            name=MODEL,
            flavor=mlflow.pyfunc,
            run_id=run_id,
            model_id=logged.model_id,
            python_model=str(_CODE),
            artifacts={
                "weights": str(folder / WEIGHTS_FILE),
                "config": str(recorded),
            },
            code_paths=[str(_PACKAGE)],
            signature=signature,
            pip_requirements=_requirements(),
        )
    client.set_tag(run_id, SHA_TAG, config[SHA_KEY])  # a record outside the artifacts
    return logged.model_id


def _answer_columns(config: dict) -> list[Any]:
    """The pyfunc's answer columns for the task recorded in ``config`` (none: multiclass),
    as ``benchmark.serve``'s predictor writes them."""
    from mlflow.types.schema import Array, ColSpec

    task = config.get("task") or "multiclass"
    kind = task if isinstance(task, str) else task.get("kind", "multiclass")
    if kind == "multilabel":
        return [ColSpec(Array("string"), "labels")]
    answer = [ColSpec("string", "label"), ColSpec("double", "confidence")]
    return [*answer, ColSpec("double", "threshold")] if kind == "binary" else answer


def _requirements() -> list[str]:
    """medbench's own dependencies pinned to the installed versions."""
    try:
        specs = metadata.requires("medbench") or []
    except metadata.PackageNotFoundError:
        specs = _FALLBACK_REQUIREMENTS
    names = (re.match(r"[A-Za-z0-9_.-]+", s) for s in specs if "extra ==" not in s)
    wanted = [name.group(0) for name in names if name is not None]
    pinned = []
    for name in wanted:
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pinned.append(name)
    return pinned


_CHECK = threading.Lock()  # one model logged at a time while MLflow's check is set aside


@contextlib.contextmanager
def _pinned_as_installed() -> Iterator[None]:
    """MLflow's check of the requirements it is given against this environment set aside:
    they are the installed versions themselves (:func:`_requirements`), and the check first
    maps every installed distribution to its modules, seconds once per process."""
    from unittest import mock

    from mlflow.utils import environment

    name = "warn_dependency_requirement_mismatches"
    if not hasattr(environment, name):  # another MLflow: its own behaviour
        yield
        return
    with _CHECK, mock.patch.object(environment, name, lambda requirements: None):
        yield


def _logged_model_id(client: Any, run_id: str) -> str | None:
    """The id of the pyfunc model logged by run ``run_id``, if it has one."""
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs else []
    for output in outputs:
        if client.get_logged_model(output.model_id).name == MODEL:
            return output.model_id
    return None


def weights_sha256(folder: Path) -> str:
    """The sha256 (hex) of ``folder``'s weights file."""
    digest = hashlib.sha256()
    with (folder / WEIGHTS_FILE).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(folder: Path, *, model: str, recorded: str | None = None) -> str | None:
    """Check ``folder``'s weights against ``recorded`` (a registered version's
    ``medbench.weights_sha256``) and the hash in its own ``config.json``; return the hash,
    or ``None`` when neither record exists (a model folder written by hand or by a medbench
    older than these records). Weights that differ raise :class:`ModelIntegrityError`
    naming ``model`` and both hashes: they were changed after the model was logged or
    promoted, and are never loaded."""
    config = json.loads((folder / CONFIG_FILE).read_text())
    records = {
        f"its tag {SHA_TAG}": recorded,
        f"{CONFIG_FILE}'s {SHA_KEY}": config.get(SHA_KEY) if isinstance(config, dict) else None,
    }
    if all(value is None for value in records.values()):
        return None
    actual = weights_sha256(folder)
    for where, expected in records.items():
        if expected is not None and expected != actual:
            raise ModelIntegrityError(
                f"{model}: the weights do not match {where}: recorded sha256 {expected}, "
                f"found {actual}. They were changed after the model was logged or promoted, "
                "so it is not loaded. Restore the original weights, or train and promote "
                "the model again."
            )
    return actual


@dataclass
class ModelSource:
    """Where a model came from: its local folder and, when registered or tracked, its name,
    version and the test metrics of the run that trained it. ``sha256`` is the hash its
    weights were checked against (``None``: nothing recorded one)."""

    folder: Path
    uri: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""  # a registered version's model card (markdown)
    sha256: str | None = None

    @property
    def label(self) -> str:
        """How messages name it: ``model NAME version N``, else its URI."""
        return f"model {self.name} version {self.version}" if self.name else f"model {self.uri}"


class Models(StoreBase):
    """The store's Model Registry side (see :class:`benchmark.track.Store`)."""

    def register_model(
        self,
        *,
        run_id: str,
        name: str,
        alias: str,
        tags: dict[str, str],
        description: str | None = None,
    ) -> tuple[str, bool]:
        """Register the model of ``run_id`` as ``name`` (once: a run already registered there
        keeps its version), set ``alias`` on that version, ``tags`` and its ``description``
        (the model card); return ``(version, created)``."""
        from mlflow.exceptions import MlflowException

        client = self._client
        model_id = _logged_model_id(client, run_id)
        if model_id is None:
            raise TrackingError(
                f"run {run_id} has no pyfunc model (it was logged by an older medbench): run "
                "its cell again (`medbench run SUITE --no-resume`) to package it."
            )
        try:
            client.create_registered_model(name, description="Registered by `medbench promote`.")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise TrackingError(f"cannot create registered model '{name}': {exc}") from None
        existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        created = not existing
        if existing:
            version = str(min(int(v.version) for v in existing))
        else:
            version = client.create_model_version(
                name, source=f"models:/{model_id}", run_id=run_id, tags=tags, model_id=model_id
            ).version
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
        if description is not None:
            client.update_model_version(name, version, description=description)
        client.set_registered_model_alias(name, alias, version)
        return str(version), created

    def resolve_model(self, reference: str, folder: Path) -> ModelSource:
        """A model from ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``,
        ``runs:/<id>/model``, a run id, or a local folder (a medbench model folder or a
        downloaded MLflow model), downloaded under ``folder`` when it is not local, its
        weights checked by :func:`verify_weights` against the version's (or the run's) tag
        and its own config."""
        import mlflow

        local = Path(reference)
        if local.is_dir():
            source = ModelSource(folder=_model_folder(local, reference), uri=str(local))
            source.sha256 = verify_weights(source.folder, model=source.label)
            return source
        name = version = None
        description, recorded = "", None
        if reference.startswith("models:/"):
            name, version, run_id, description, recorded = self._registered(reference)
            uri = reference
        elif reference.startswith("runs:/"):
            run_id, uri = reference.removeprefix("runs:/").split("/", 1)[0], reference
        elif re.fullmatch(r"[0-9a-f]{32}", reference):
            run_id, uri = reference, f"runs:/{reference}/{MODEL}"
        else:
            raise TrackingError(
                f"'{reference}' is not a model: expected models:/NAME@ALIAS, "
                "models:/NAME/VERSION, runs:/<run id>/model, a run id or a model folder."
            )
        try:
            path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder)))
        except Exception as exc:
            raise TrackingError(f"cannot download the model '{reference}': {exc}") from None
        source = ModelSource(folder=_model_folder(path, reference), uri=uri, name=name)
        source.version, source.run_id, source.description = version, run_id, description
        run = None
        if run_id:
            try:
                run = self._client.get_run(run_id)
            except Exception:
                run = None
        if recorded is None and run is not None:  # a run's model: the hash its run recorded
            recorded = run.data.tags.get(SHA_TAG)
        source.sha256 = verify_weights(source.folder, model=source.label, recorded=recorded)
        if run is not None:
            source.metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("test/")}
            source.tags = {k: v for k, v in run.data.tags.items() if k.startswith(TAG)}
        return source

    def _registered(self, reference: str) -> tuple[str, str, str | None, str, str | None]:
        """Name, version, run id, model card and recorded weights hash of a registry
        reference."""
        from mlflow.exceptions import MlflowException

        client = self._client
        rest = reference.removeprefix("models:/")
        name, alias = rest.split("@", 1) if "@" in rest else (rest, None)
        name, _, number = name.partition("/")
        try:
            client.get_registered_model(name)
        except MlflowException:
            known = [m.name for m in client.search_registered_models()]
            raise TrackingError(
                f"no registered model '{name}' in {self.tracking_uri}; registered: "
                f"{known or 'none (`medbench promote SUITE` registers the best cell)'}."
            ) from None
        try:
            if alias is not None:
                found = client.get_model_version_by_alias(name, alias)
            elif number:
                found = client.get_model_version(name, number)
            else:
                raise TrackingError(f"'{reference}' names no version: add @ALIAS or /VERSION.")
        except MlflowException:
            aliases = client.get_registered_model(name).aliases
            raise TrackingError(
                f"'{reference}' does not exist; model '{name}' has aliases {aliases or 'none'}."
            ) from None
        recorded = (found.tags or {}).get(SHA_TAG)
        return name, str(found.version), found.run_id, found.description or "", recorded

    def champion_uri(self, alias: str = "champion") -> str:
        """``models:/NAME@alias`` of the only registered model with ``alias``."""
        models = self._client.search_registered_models()
        names = [m.name for m in models if alias in (m.aliases or {})]
        if len(names) == 1:
            return f"models:/{names[0]}@{alias}"
        if not names:
            raise TrackingError(
                f"no registered model has the alias '{alias}' in {self.tracking_uri}: run "
                "`medbench promote SUITE` first, or give --model."
            )
        raise TrackingError(
            f"several models have the alias '{alias}' ({names}): choose with --model."
        )


def _model_folder(path: Path, reference: str) -> Path:
    """The folder holding ``config.json``: the path itself or an MLflow model's artifacts/."""
    for candidate in (path, path / "artifacts"):
        if (candidate / CONFIG_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
            return candidate
    raise TrackingError(
        f"'{reference}' holds no medbench model: expected {CONFIG_FILE} and {WEIGHTS_FILE} "
        "(or an MLflow model with them under artifacts/)."
    )
