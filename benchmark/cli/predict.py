"""``medbench predict``: classify images with a registered, tracked or local model."""

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
    top_k: Annotated[int, typer.Option(min=1, help="Classes listed per image.")] = 3,
    tracking_uri: Tracking = None,
) -> None:
    """Predict the class of each image; a table, OUTPUT/predictions.csv, CAM overlays."""
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
    """Which model answers: its registered name and version (or run), backbone, test scores."""
    scores = ", ".join(
        f"{key.removeprefix('test/')} {source.metrics[key]:.3f}"
        for key in ("test/accuracy", "test/f1_weighted", "test/auroc_macro")
        if key in source.metrics
    )
    console.print(
        f"[bold]{escape(source.label)}[/]: {config['backbone']} at {config['image_size']} px, "
        f"classes {', '.join(config['classes'])}" + (f"; test {scores}" if scores else "")
    )


def render_predictions(frame: Any) -> None:
    """One row per image: predicted class, confidence, the top classes, or why it failed."""
    out = Table("file", "predicted", "confidence", "top classes")
    for row in frame.itertuples():
        if row.error:
            out.add_row(escape(row.file), "[red]error[/]", "", f"[red]{escape(row.error)}[/]")
        else:
            out.add_row(escape(row.file), row.label, f"{row.confidence:.3f}", row.top_k)
    print_table(out)
