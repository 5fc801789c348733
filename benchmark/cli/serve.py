"""``medbench app``: the web page where a clinician uploads an image and sees the answer."""

from __future__ import annotations

import typer

from benchmark.cli._common import MODEL_HELP, TRACKING_HELP

CONCURRENCY = 32  # requests in flight (each holds at most one upload); more get 503


def app(
    model: str | None = typer.Option(
        None, help=f"{MODEL_HELP} Default: the registered model with the alias 'champion'."
    ),
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on (local only by default; others need --token)."
    ),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    max_mb: float = typer.Option(20.0, min=0.01, help="Largest upload accepted, in MB."),
    cam: str = typer.Option(
        "gradcam", help="CAM method shown (see `medbench list cams`), or 'none'."
    ),
    token: str | None = typer.Option(
        None,
        show_default=False,
        help="Secret every request must carry (the browser asks for it as a password); "
        "required when --host is not 127.0.0.1, ::1 or localhost. Prefer the environment "
        "variable: a command line shows in `ps` and in the shell's history.",
    ),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
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
