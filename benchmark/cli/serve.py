"""``medbench app``: the web page where a clinician uploads an image and sees the answer."""

from __future__ import annotations

from typing import Annotated

import typer

from benchmark.cli._common import MODEL_HELP, Tracking

CONCURRENCY = 32  # requests in flight (each holds at most one upload); more get 503


def app(
    model: Annotated[
        str | None,
        typer.Option(help=f"{MODEL_HELP} Default: the registered model with the alias 'champion'."),
    ] = None,
    host: Annotated[
        str,
        typer.Option(help="Address to listen on (local only by default; others need --token)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    max_mb: Annotated[float, typer.Option(min=0.01, help="Largest upload accepted, in MB.")] = 20.0,
    cam: Annotated[
        str, typer.Option(help="CAM method shown (see `medbench list cams`), or 'none'.")
    ] = "gradcam",
    token: Annotated[
        str | None,
        typer.Option(
            show_default=False,
            help="Secret every request must carry (the browser asks for it as a password); "
            "required when --host is not 127.0.0.1, ::1 or localhost. Prefer the environment "
            "variable MEDBENCH_APP_TOKEN: a command line shows in `ps` and in the shell's "
            "history.",
        ),
    ] = None,
    tracking_uri: Tracking = None,
) -> None:
    """Serve a page to upload an image and see its class, probabilities and CAM."""
    import uvicorn

    from benchmark.cli.predict import render_model
    from benchmark.console import console, warning
    from benchmark.explain import get_method
    from benchmark.serve import load_predictor
    from benchmark.serve.app import LOCAL_HOSTS, check_exposure, create_app
    from benchmark.settings import settings

    secret = settings().app_token
    token = token or (secret.get_secret_value() if secret is not None else None)
    check_exposure(host, token)
    cam_method = None if cam == "none" else cam
    if cam_method is not None:
        get_method(cam_method)
    predictor, source = load_predictor(model, tracking_uri=tracking_uri)
    render_model(source, predictor.config)
    web = create_app(
        predictor,
        source=source,
        max_bytes=int(max_mb * 2**20),
        cam_method=cam_method,
        token=token or None,
    )
    if host not in LOCAL_HOSTS:
        warning(
            f"listening on {host}: only requests carrying the token are answered, but it "
            "travels in clear over HTTP. Put the app behind HTTPS on an untrusted network."
        )
    shown = f"[{host}]" if ":" in host else host
    console.print(f"medbench app on [bold]http://{shown}:{port}[/] (Ctrl-C stops it)")
    uvicorn.run(web, host=host, port=port, log_level="warning", limit_concurrency=CONCURRENCY)
