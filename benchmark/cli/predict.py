"""``medbench predict``: classify images with a registered, tracked or local model."""

from __future__ import annotations

from pathlib import Path

import typer

from benchmark.cli._common import MODEL_HELP, TRACKING_HELP

CHUNK = 64  # images prepared and classified together


def predict(
    model: str = typer.Argument(..., help=MODEL_HELP),
    images: list[Path] = typer.Argument(..., help="Image files or folders."),
    cam: str | None = typer.Option(
        None, help="Also write this CAM method's overlay per image (see `medbench list cams`)."
    ),
    output: Path = typer.Option(
        Path("predictions"), help="Folder for predictions.csv and the overlays."
    ),
    top_k: int = typer.Option(3, min=1, help="Classes listed per image."),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
) -> None:
    """Predict the class of each image; a table, OUTPUT/predictions.csv, CAM overlays."""
    import tempfile

    import pandas as pd

    from benchmark import track
    from benchmark.cli._common import image_files, save_png
    from benchmark.console import console, progress_bar, render_model, render_predictions
    from benchmark.data import BadImage
    from benchmark.errors import MedbenchError
    from benchmark.explain import check_method
    from benchmark.serve import Predictor

    if cam is not None:
        check_method(cam)
    files = image_files(images)
    client = track.connect(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        source = track.resolve_model(client, model, Path(tmp))
        predictor = Predictor.load(source.folder)
    render_model(source, predictor.config)
    output.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with progress_bar("predicting") as advance:
        for start in range(0, len(files), CHUNK):
            chunk, prepared = [], []
            paths = files[start : start + CHUNK]
            for position, (path, image) in enumerate(
                zip(paths, predictor.prepare_many(paths), strict=True), start=start
            ):
                if isinstance(image, BadImage):
                    rows.append({"position": position, "file": str(path), "error": str(image)})
                else:
                    prepared.append(image)
                    chunk.append((position, path))
            table = predictor.table(predictor.probabilities(prepared))
            for (position, path), image, (_, row) in zip(
                chunk, prepared, table.iterrows(), strict=True
            ):
                ranked = row[predictor.classes].astype(float).nlargest(top_k)
                entry = {"position": position, "file": str(path), **row.to_dict(), "error": ""}
                entry["top_k"] = "; ".join(f"{name} {p:.3f}" for name, p in ranked.items())
                if cam is not None:
                    target = output / f"{position:04d}_{path.stem}_{cam}.png"  # unique names
                    label = predictor.classes.index(row["label"])
                    save_png(predictor.overlay(image, target=label, method=cam), target)
                    entry["overlay"] = str(target)
                rows.append(entry)
            advance(min(start + CHUNK, len(files)), len(files))
    frame = pd.DataFrame(rows).sort_values("position")
    order = ["file", "label", "confidence", "top_k", *predictor.classes, "overlay", "error"]
    frame = frame.reindex(columns=[c for c in order if c in frame])
    frame.to_csv(output / "predictions.csv", index=False)
    render_predictions(frame)
    failed = int((frame["error"] != "").sum())
    console.print(
        f"{len(files) - failed} of {len(files)} images predicted → {output / 'predictions.csv'}"
    )
    if failed == len(files):
        raise MedbenchError("no image could be read: see the errors above.")
