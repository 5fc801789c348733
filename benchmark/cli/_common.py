"""What commands share: their common parameters (``Annotated`` types), and helpers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchmark.errors import TrackingError

if TYPE_CHECKING:
    from benchmark.suite import Suite
    from benchmark.track import Store

MODEL_HELP = (
    "models:/NAME@ALIAS, models:/NAME/VERSION, runs:/<run id>/model, a run id, or a model folder."
)
STORAGE_HELP = (
    "Optuna storage: a URL (postgresql://...) or a journal file (default: MEDBENCH_STORAGE, "
    "else mlruns/optuna.journal)."
)
TRACKING_HELP = (
    "MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)."
)

SuiteFile = Annotated[Path, typer.Argument(help="Suite YAML file.")]
SuiteOrExperiment = Annotated[
    str | None,
    typer.Argument(help="Suite file or experiment name (default: the only suite with results)."),
]
Set = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a setting, e.g. --set train.epochs=3 (repeatable); `*` stands for "
        "every key or item, e.g. --set 'datasets.*.options.size=64'.",
    ),
]
ModelRef = Annotated[str, typer.Argument(help=MODEL_HELP)]
Images = Annotated[list[Path], typer.Argument(help="Image files or folders.")]
Tracking = Annotated[str | None, typer.Option(help=TRACKING_HELP)]
Storage = Annotated[str | None, typer.Option(help=STORAGE_HELP)]


def resolve_suite(store: Store, suite_or_experiment: str | None) -> tuple[str, Suite | None]:
    """The suite's name and, when it was given as a file, the suite (its references and
    description); an experiment name as given; or the only suite with results in ``store``."""
    if suite_or_experiment is None:
        names = store.suites()
        if len(names) == 1:
            return names[0], None
        if not names:
            raise TrackingError(
                f"no results in {store.tracking_uri} yet: run `medbench run SUITE` first."
            )
        raise TrackingError(f"several suites have results, name one of {names}.")
    path = Path(suite_or_experiment)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        from benchmark.suite import load_suite

        spec = load_suite(path)
        return spec.name, spec
    return suite_or_experiment, None


def image_files(paths: list[Path]) -> list[Path]:
    """The image files among ``paths`` (folders are walked for image files)."""
    from benchmark.data import is_image_file, is_mask, walk_files
    from benchmark.errors import MedbenchError

    files = []
    for path in paths:
        if path.is_dir():
            files += [p for p in walk_files(path) if is_image_file(p) and not is_mask(p)]
        else:
            files.append(path)  # a missing file is reported with the others that fail
    if not files:
        raise MedbenchError(f"no images found in {[str(p) for p in paths]}.")
    return files
