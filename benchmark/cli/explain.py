"""``medbench explain``: class-activation maps of a tracked model on any images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchmark.cli._common import Images, ModelRef, Tracking


def explain(
    model: ModelRef,
    images: Images,
    method: Annotated[str, typer.Option(help="CAM method (see `medbench list cams`).")] = "gradcam",
    stages: Annotated[
        bool, typer.Option("--stages", help="Also one map per backbone stage.")
    ] = False,
    output: Annotated[Path, typer.Option(help="Folder for the overlays.")] = Path("cams"),
    tracking_uri: Tracking = None,
) -> None:
    """Write a CAM overlay (jet, alpha 0.5) for the predicted class of each image."""
    from collections import Counter

    from rich.markup import escape
    from rich.table import Table

    from benchmark.cli._common import image_files
    from benchmark.console import console, error, print_table
    from benchmark.errors import MedbenchError
    from benchmark.explain import explain_images, get_method
    from benchmark.serve import load_predictor, save_png
    from benchmark.settings import writable_folder

    get_method(method)
    writable_folder(output, what="the overlays folder (--output)", keep=False)
    files = image_files(images)
    predictor, _ = load_predictor(model, tracking_uri=tracking_uri)
    output.mkdir(parents=True, exist_ok=True)
    table = Table("image", "predicted", "confidence", "overlay")
    failures = 0
    stems = Counter(path.stem for path in files)
    found = explain_images(predictor, files, method=method, stages=stages)
    for position, result in enumerate(found):
        path, overlay = result.path, result.overlay
        if result.error is not None or overlay is None:  # an overlay whenever no error
            failures += 1
            error(f"{path}: {result.error}; skipped.")
            continue
        name = path.stem if stems[path.stem] == 1 else f"{position:04d}_{path.stem}"  # no clash
        target = output / f"{name}_{method}.png"
        save_png(overlay, target)
        if result.stages is not None:
            result.stages.savefig(output / f"{name}_stages.png", dpi=120)
            import matplotlib.pyplot as plt  # the figure's own module chose the backend

            plt.close(result.stages)
        table.add_row(escape(str(path)), result.predicted, f"{result.confidence:.3f}",
                      escape(str(target)))  # fmt: skip
    print_table(table)
    console.print(f"{len(files) - failures} overlays in {output}")
    if failures == len(files):
        raise MedbenchError("no image could be explained.")
