"""``medbench app``: the web page where a clinician uploads an image and sees the answer."""

from __future__ import annotations

import typer

from benchmark.cli._common import MODEL_HELP, TRACKING_HELP

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def app(
    model: str | None = typer.Option(
        None, help=f"{MODEL_HELP} Default: the registered model with the alias 'champion'."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (local only by default)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    max_mb: float = typer.Option(20.0, min=0.01, help="Largest upload accepted, in MB."),
    cam: str = typer.Option(
        "gradcam", help="CAM method shown (see `medbench list cams`), or 'none'."
    ),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
) -> None:
    """Serve a page to upload an image and see its class, probabilities and CAM."""
    import tempfile
    from pathlib import Path

    import uvicorn

    from benchmark import track
    from benchmark.console import console, render_model, warning
    from benchmark.explain import check_method
    from benchmark.serve import Predictor
    from benchmark.serve.app import create_app

    cam_method = None if cam == "none" else cam
    if cam_method is not None:
        check_method(cam_method)
    client = track.connect(tracking_uri)
    uri = model or track.champion_uri(client)
    with tempfile.TemporaryDirectory() as tmp:
        source = track.resolve_model(client, uri, Path(tmp))
        predictor = Predictor.load(source.folder)
    render_model(source, predictor.config)
    web = create_app(predictor, source=source, max_bytes=int(max_mb * 2**20), cam_method=cam_method)
    if host not in LOCAL_HOSTS:
        warning(
            f"listening on {host}: anyone who can reach this machine can upload images. "
            "Keep the default 127.0.0.1 unless the network is trusted."
        )
    shown = f"[{host}]" if ":" in host else host
    console.print(f"medbench app on [bold]http://{shown}:{port}[/] (Ctrl-C stops it)")
    uvicorn.run(web, host=host, port=port, log_level="warning")
