"""``medbench explain``: class-activation maps of a tracked model on any images."""

from __future__ import annotations

from pathlib import Path

import typer

from benchmark.cli._common import TRACKING_HELP


def explain(
    model: str = typer.Argument(..., help="Run id, runs:/<id>/model, or a model folder."),
    images: list[Path] = typer.Argument(..., help="Image files or folders."),
    method: str = typer.Option("gradcam", help="CAM method (see `medbench list cams`)."),
    stages: bool = typer.Option(False, "--stages", help="Also one map per backbone stage."),
    output: Path = typer.Option(Path("cams"), help="Folder for the overlays."),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
) -> None:
    """Write a CAM overlay (jet, alpha 0.5) for the predicted class of each image."""
    import tempfile

    import cv2
    import torch
    from rich.table import Table

    from benchmark import track
    from benchmark.console import console, error, print_table
    from benchmark.data import normalize, parse_op, prepare_image
    from benchmark.data.files import BadImage, read_image
    from benchmark.errors import MedbenchError
    from benchmark.explain import cam_maps, check_method, overlay, stage_layers, stages_figure
    from benchmark.models import load_model

    check_method(method)
    files = _image_files(images)
    track.connect(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        net, config = load_model(track.download_model(model, Path(tmp)))
    output.mkdir(parents=True, exist_ok=True)
    ops = [parse_op(op) for op in config.get("preprocess", [])]
    table = Table("image", "predicted", "confidence", "overlay")
    failures = 0
    for path in files:
        try:
            decoded = read_image(path)
        except BadImage as exc:
            failures += 1
            error(f"{path}: {exc}; skipped.")
            continue
        image = torch.from_numpy(prepare_image(decoded, ops=ops, size=config["image_size"]))
        image = image.permute(2, 0, 1)[None]
        x = normalize(image, mean=config["mean"], std=config["std"])
        with torch.no_grad():
            probs = net(x).softmax(dim=1)[0]
        pred = int(probs.argmax())
        cam = cam_maps(net, x, [pred], method=method)[0]
        target = output / f"{path.stem}_{method}.png"
        cv2.imwrite(str(target), cv2.cvtColor(overlay(image[0].numpy(), cam), cv2.COLOR_RGB2BGR))
        if stages:
            names = [name for name, _ in stage_layers(net)]
            maps = [cam_maps(net, x, [pred], layer=name)[0] for name in names]
            figure = stages_figure([image[0].numpy()], [maps], names, title=path.name)
            figure.savefig(output / f"{path.stem}_stages.png", dpi=120)
        table.add_row(str(path), config["classes"][pred], f"{float(probs[pred]):.3f}", str(target))
    print_table(table)
    console.print(f"{len(files) - failures} overlays in {output}")
    if failures == len(files):
        raise MedbenchError("no image could be explained.")


def _image_files(paths: list[Path]) -> list[Path]:
    from benchmark.data import is_image_file, is_mask, walk_files
    from benchmark.errors import MedbenchError

    files = []
    for path in paths:
        if path.is_dir():
            files += [p for p in walk_files(path) if is_image_file(p) and not is_mask(p)]
        elif path.exists():
            files.append(path)
        else:
            raise MedbenchError(f"{path} does not exist.")
    if not files:
        raise MedbenchError(f"no images found in {[str(p) for p in paths]}.")
    return files
