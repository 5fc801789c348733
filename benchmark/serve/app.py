"""The web page of ``medbench app``: upload an image, see the predicted class, a bar per
class (a binary model's positive class against its threshold; for a multi-label model the
labels found, each against its threshold), the class-activation map (one per label found;
of the methods that answer within seconds, the user's choice), and which model answered
with its test scores.

Uploads are decoded in memory and never written to disk; the page and its script are plain
files of this package, with no external resource. Served beyond this machine, every request
must carry the app's token (HTTP Basic with the token as password, which a browser asks for
by itself, or ``Authorization: Bearer TOKEN``); it is compared in constant time and never
logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import threading
from collections.abc import Callable
from importlib.resources import files
from typing import Annotated

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from starlette.concurrency import run_in_threadpool

from benchmark import track
from benchmark.data import BadImage
from benchmark.errors import MedbenchError
from benchmark.explain import list_methods, usable_methods
from benchmark.serve.predictor import Predictor
from benchmark.settings import variable
from benchmark.track import ModelSource

__all__ = ["LOCAL_HOSTS", "MAX_UPLOAD_BYTES", "check_exposure", "create_app"]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_REALM = "medbench"
# The schemes the token guard reads. Module-level: FastAPI resolves the guard's annotations
# (strings, under postponed evaluation) in this module's globals, not in a function's locals.
_BASIC, _BEARER = HTTPBasic(auto_error=False, realm=_REALM), HTTPBearer(auto_error=False)
_SHOWN_METRICS = ("accuracy", "f1_weighted", "f1_macro", "balanced_accuracy", "auroc_macro")
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen on ``host`` without a token unless it is this machine's loopback."""
    if host not in LOCAL_HOSTS and not token:
        raise MedbenchError(
            f"--host {host}: serving beyond this machine needs a token, but none was given. "
            f"Give --token (or set {variable('app_token')}) to a long random secret, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or keep "
            f"--host on {', '.join(LOCAL_HOSTS)}."
        )


def create_app(
    predictor: Predictor,
    *,
    source: ModelSource | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
    cam_method: str | None = "gradcam",
    token: str | None = None,
) -> FastAPI:
    """The app for ``predictor``; ``source`` (its registered name, version and test scores)
    describes it on the page. With a ``token``, every request without it gets 401."""
    guards = [Depends(_require(token))] if token else []
    app = FastAPI(
        title="medbench", docs_url=None, redoc_url=None, openapi_url=None, dependencies=guards
    )
    assets = files("benchmark.serve") / "static"
    lock = threading.Lock()  # one request at a time on the model (CAM hooks are per model)
    offered = _offered(cam_method, predictor.model)
    cam_method = offered[0] if offered else None  # a kNN model: the first it can explain
    info = _describe(predictor, source, max_bytes=max_bytes, cam_method=cam_method)

    @app.get("/", response_class=HTMLResponse)
    def page() -> Response:
        return HTMLResponse((assets / "index.html").read_text(), headers=_HEADERS)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        types = {"app.js": "text/javascript", "app.css": "text/css"}
        if name not in types:
            return _problem(404, f"no such file: {name}")
        return Response((assets / name).read_text(), media_type=types[name], headers=_HEADERS)

    @app.get("/api/model")
    def describe() -> dict:
        return info

    @app.post("/api/predict")
    async def predict(request: Request) -> Response:
        method = request.query_params.get("method", cam_method)
        if method is not None and method not in offered:
            return _problem(400, f"`method={method}` is not offered: expected one of {offered}.")
        limit = f"{max_bytes / 2**20:.3g} MB"
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            return _problem(
                413, f"the file is {int(declared) / 2**20:.3g} MB; the limit is {limit}."
            )
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > max_bytes:
                return _problem(413, f"the file is over the {limit} limit.")
        if not data:
            return _problem(400, "the upload is empty: choose an image file.")
        try:
            result = await run_in_threadpool(_classify, predictor, bytes(data), method, lock)
        except BadImage as exc:
            return _problem(415, f"this file cannot be read as an image: {exc}.")
        return JSONResponse(result, headers=_HEADERS)

    return app


def _require(token: str) -> Callable[..., None]:
    """A dependency accepting HTTP Basic (any user name, the token as password) or a bearer
    token; both are compared by their sha256 in constant time."""
    expected = hashlib.sha256(token.encode()).digest()

    def check(
        user: Annotated[HTTPBasicCredentials | None, Depends(_BASIC)],
        key: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        given = user.password if user is not None else key.credentials if key else None
        found = hashlib.sha256((given or "").encode()).digest()
        if given is None or not hmac.compare_digest(found, expected):
            raise HTTPException(
                401,
                "this app needs its token: sign in with it as the password, or send "
                "`Authorization: Bearer TOKEN`.",
                headers={"WWW-Authenticate": f'Basic realm="{_REALM}"', **_HEADERS},
            )

    return check


def _offered(cam_method: str | None, model) -> list[str]:
    """The chosen method first, then every other one that is not slow (none without one),
    less those that need gradients ``model``'s scores do not have."""
    if cam_method is None:
        return []
    fast = [m.name for m in list_methods() if not m.slow and m.name != cam_method]
    return usable_methods(model, [cam_method, *fast])


def _classify(predictor: Predictor, data: bytes, cam_method: str | None, lock) -> dict:
    """One upload's answer: the predictor's (see ``Predictor.table``), a probability per
    class, the input as the model sees it and the maps of the classes decided."""
    image = predictor.prepare(data)
    with lock:
        probs = predictor.probabilities([image])[0]
        targets = predictor.targets(probs)
        chosen: list[int] = []
        maps: list[np.ndarray] = []
        if cam_method is not None:
            chosen = targets
            maps = [predictor.overlay(image, target=k, method=cam_method) for k in chosen]
    task, classes = predictor.task, predictor.classes
    if task.multilabel:
        found = predictor.table(probs[None])["labels"].iloc[0]
        return {
            "labels": found,
            "probabilities": [
                {
                    "class": name,
                    "probability": float(p),
                    "threshold": task.thresholds[name],
                    "found": name in found,
                }
                for name, p in zip(classes, probs, strict=True)
            ],
            "input": _png(image.permute(1, 2, 0).numpy()),
            "overlays": [
                {"class": classes[k], "overlay": _png(m)} for k, m in zip(chosen, maps, strict=True)
            ],
            "cam_method": cam_method,
        }
    top = targets[0]
    answer = {"label": classes[top], "confidence": float(probs[top])}
    if task.positive is not None:
        answer |= {"positive": task.positive, "threshold": task.thresholds[task.positive]}
    return {
        **answer,
        "probabilities": [
            {"class": name, "probability": float(p)} for name, p in zip(classes, probs, strict=True)
        ],
        "input": _png(image.permute(1, 2, 0).numpy()),
        "overlay": _png(maps[0]) if maps else None,
        "cam_method": cam_method,
    }


def _describe(
    predictor: Predictor, source: ModelSource | None, *, max_bytes: int, cam_method
) -> dict:
    metrics = source.metrics if source else {}
    shown = {}
    for key in _SHOWN_METRICS:
        if f"test/{key}" in metrics:
            low, high = metrics.get(f"test/{key}_ci_low"), metrics.get(f"test/{key}_ci_high")
            shown[key] = {
                "value": metrics[f"test/{key}"],
                "ci": None if low is None else [low, high],
            }
    tags = source.tags if source else {}
    return {
        "name": source and source.name,
        "version": source and source.version,
        "uri": source and source.uri,
        "cell": tags.get(track.TAG + "cell"),
        "suite": tags.get(track.TAG + "suite"),
        "backbone": predictor.config["backbone"],
        "image_size": predictor.config["image_size"],
        "classes": predictor.classes,
        "task": predictor.task.kind,
        "positive": predictor.task.positive,
        "thresholds": predictor.task.thresholds or None,
        "metrics": shown,
        "card": source.description if source else "",
        "max_bytes": max_bytes,
        "cam_method": cam_method,
        "cam_methods": _offered(cam_method, predictor.model),
    }


def _png(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=_HEADERS)
