"""``medbench explain``: class-activation maps of a tracked model on any images."""

from __future__ import annotations

from pathlib import Path

import typer

from benchmark.cli._common import MODEL_HELP, TRACKING_HELP


def explain(
    model: str = typer.Argument(..., help=MODEL_HELP),
    images: list[Path] = typer.Argument(..., help="Image files or folders."),
    method: str = typer.Option("gradcam", help="CAM method (see `medbench list cams`)."),
    stages: bool = typer.Option(False, "--stages", help="Also one map per backbone stage."),
    output: Path = typer.Option(Path("cams"), help="Folder for the overlays."),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
) -> None:
    """Write a CAM overlay (jet, alpha 0.5) for the predicted class of each image."""
    from collections import Counter

    from rich.markup import escape
    from rich.table import Table

    from benchmark.cli._common import image_files
    from benchmark.console import console, error, print_table
    from benchmark.data import BadImage
    from benchmark.errors import MedbenchError
    from benchmark.explain import cam_maps, get_method, stage_layers, stages_figure
    from benchmark.serve import load_predictor, save_png

    get_method(method)
    files = image_files(images)
    predictor, _ = load_predictor(model, tracking_uri=tracking_uri)
    output.mkdir(parents=True, exist_ok=True)
    table = Table("image", "predicted", "confidence", "overlay")
    failures = 0
    stems = Counter(path.stem for path in files)
    for position, path in enumerate(files):
        try:
            image = predictor.prepare(path)
        except BadImage as exc:
            failures += 1
            error(f"{path}: {exc}; skipped.")
            continue
        probs = predictor.probabilities([image])[0]
        pred = int(probs.argmax())
        name = path.stem if stems[path.stem] == 1 else f"{position:04d}_{path.stem}"  # no clash
        target = output / f"{name}_{method}.png"
        save_png(predictor.overlay(image, target=pred, method=method), target)
        if stages:
            x = predictor.normalized(image[None])
            names = [name for name, _ in stage_layers(predictor.model)]
            maps = [cam_maps(predictor.model, x, [pred], layer=name)[0] for name in names]
            figure = stages_figure([image.numpy()], [maps], names, title=path.name)
            figure.savefig(output / f"{name}_stages.png", dpi=120)
            import matplotlib.pyplot as plt  # the figure's own module chose the backend

            plt.close(figure)
        table.add_row(escape(str(path)), predictor.classes[pred], f"{probs[pred]:.3f}",
                      escape(str(target)))  # fmt: skip
    print_table(table)
    console.print(f"{len(files) - failures} overlays in {output}")
    if failures == len(files):
        raise MedbenchError("no image could be explained.")
