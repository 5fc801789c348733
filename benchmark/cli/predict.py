"""``medbench predict``: classify images with a registered, tracked or local model (the
likeliest class; the positive class at its threshold for a binary model; every label at or
above its threshold for a multi-label one)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from benchmark.cli._common import Images, ModelRef, Tracking
from benchmark.console import console, print_table

if TYPE_CHECKING:
    from benchmark.track import ModelSource


def predict(
    model: ModelRef,
    images: Images,
    cam: Annotated[
        str | None,
        typer.Option(
            help="Also write this CAM method's overlay per image (see `medbench list cams`)."
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option(help="Folder for predictions.csv and the overlays.")
    ] = Path("predictions"),
    top_k: Annotated[
        int,
        typer.Option(
            min=1, help="Likeliest classes (labels, for a multi-label model) listed per image."
        ),
    ] = 3,
    tracking_uri: Tracking = None,
) -> None:
    """Predict the class (or labels) of each image; a table, OUTPUT/predictions.csv, CAM
    overlays (for a multi-label model, one per label found)."""
    from benchmark.cli._common import image_files
    from benchmark.console import progress_bar
    from benchmark.errors import MedbenchError
    from benchmark.explain import get_method
    from benchmark.serve import load_predictor, predict_files
    from benchmark.settings import writable_folder

    if cam is not None:
        get_method(cam)
    writable_folder(output, what="the predictions folder (--output)", keep=False)
    files = image_files(images)
    predictor, source = load_predictor(model, tracking_uri=tracking_uri)
    render_model(source, predictor.config)
    output.mkdir(parents=True, exist_ok=True)
    with progress_bar("predicting") as advance:
        frame = predict_files(
            predictor, files, top_k=top_k, cam=cam, overlays=output, progress=advance
        )
    frame.to_csv(output / "predictions.csv", index=False)
    render_predictions(frame)
    failed = int((frame["error"] != "").sum())
    console.print(
        f"{len(files) - failed} of {len(files)} images predicted → {output / 'predictions.csv'}"
    )
    if failed == len(files):
        raise MedbenchError("no image could be read: see the errors above.")


def render_model(source: ModelSource, config: dict) -> None:
    """Which model answers: its registered name and version (or run), backbone, test scores,
    and how it decides when that is not the likeliest class (its thresholds)."""
    from benchmark.serve import ServedTask

    scores = ", ".join(
        f"{key.removeprefix('test/')} {source.metrics[key]:.3f}"
        for key in ("test/accuracy", "test/f1_weighted", "test/auroc_macro")
        if key in source.metrics
    )
    task = ServedTask.from_config(config)
    names = "labels" if task.multilabel else "classes"
    console.print(
        f"[bold]{escape(source.label)}[/]: {config['backbone']} at {config['image_size']} px, "
        f"{names} {', '.join(config['classes'])}" + (f"; test {scores}" if scores else "")
    )
    if task.positive is not None:
        negative, positive = (escape(name) for name in task.classes)
        threshold = task.thresholds[task.positive]
        console.print(f"binary: {positive} when its probability ≥ {threshold:.3f}, else {negative}")
    elif task.multilabel:
        cut = ", ".join(f"{escape(name)} {t:.3f}" for name, t in task.thresholds.items())
        console.print(f"multilabel: each label found when its probability ≥ its threshold ({cut})")


def render_predictions(frame: Any) -> None:
    """One row per image: predicted class and confidence (or the labels found), the top
    classes, or why it failed."""
    multilabel = "labels" in frame
    out = (
        Table("file", "labels found", "top labels")
        if multilabel
        else Table("file", "predicted", "confidence", "top classes")
    )
    for row in frame.itertuples():
        if row.error:
            failed = ["[red]error[/]", *([] if multilabel else [""])]
            out.add_row(escape(row.file), *failed, f"[red]{escape(row.error)}[/]")
        elif multilabel:
            found = escape(row.labels.replace("|", ", ")) if row.labels else "[dim]none[/]"
            out.add_row(escape(row.file), found, escape(row.top_k))
        else:
            out.add_row(escape(row.file), row.label, f"{row.confidence:.3f}", row.top_k)
    print_table(out)
