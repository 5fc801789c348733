"""``medbench app``: the API behind the page, its limits, and the page in a real browser."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmark import track
from benchmark.cli import app as cli
from benchmark.data import PHANTOM_CLASSES, render_phantom
from benchmark.explain import list_methods
from benchmark.serve import Predictor
from benchmark.serve.app import create_app
from tests._server import free_port, serve_in_thread, wait_for
from tests.conftest import CHAMPION, ROOT, SMALL_CHAMPION, SMALL_MODEL

LIMIT = 100_000
ARTIFACTS = ROOT / "test-artifacts"  # kept after the run (CI can publish it); not committed


def _serve(uri: str, champion: str, folder):
    """The app of ``champion``, served by uvicorn in a thread of this process."""
    source = track.connect(uri).resolve_model(champion, folder)
    predictor = Predictor.load(source.folder, device="cpu")
    with serve_in_thread(create_app(predictor, source=source, max_bytes=LIMIT)) as url:
        yield url, source


@pytest.fixture(scope="module")
def server(small_store, tmp_path_factory):
    """The app of the small suite's champion."""
    yield from _serve(small_store, SMALL_CHAMPION, tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def quickstart_server(quickstart_store, tmp_path_factory):
    """The app of the quickstart's champion, for answers that must be right."""
    yield from _serve(quickstart_store, CHAMPION, tmp_path_factory.mktemp("quickstart-model"))


def _request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict, bytes]:
    method = "POST" if data is not None else "GET"
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _phantom_png(label: str) -> bytes:
    image = render_phantom(1, seed=314, size=80, difficulty=0.4, label=label).image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_page_its_script_and_the_model_card(server):
    url, source = server
    status, headers, body = _request(f"{url}/")
    assert status == 200 and b'<input id="file" type="file"' in body
    assert "default-src 'self'" in headers["content-security-policy"]
    assert _request(f"{url}/static/app.js")[0] == 200
    assert _request(f"{url}/static/app.py")[0] == 404
    status, _, body = _request(f"{url}/api/model")
    card = json.loads(body)
    assert (card["name"], card["version"]) == (SMALL_MODEL, "1")
    assert card["classes"] == list(PHANTOM_CLASSES)
    assert card["metrics"]["accuracy"]["value"] == source.metrics["test/accuracy"]
    assert card["cell"] == source.tags["medbench.cell"] and card["max_bytes"] == LIMIT
    assert card["card"] == source.description and "## Test scores" in card["card"]
    assert card["cam_methods"][0] == "gradcam" and "integrated_gradients" in card["cam_methods"]
    slow = {m.name for m in list_methods() if m.slow}
    assert not set(card["cam_methods"]) & slow  # the app offers what answers in seconds


def test_an_upload_is_classified_and_explained_without_touching_the_disk(
    quickstart_server, tmp_path, monkeypatch
):
    """On the quickstart's model: the upload must be classified right."""
    url, _ = quickstart_server
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    status, _, body = _request(f"{url}/api/predict", _phantom_png("pituitary"))
    assert status == 200, body
    answer = json.loads(body)
    probabilities = {p["class"]: p["probability"] for p in answer["probabilities"]}
    assert list(probabilities) == list(PHANTOM_CLASSES)
    assert abs(sum(probabilities.values()) - 1) < 1e-5
    assert answer["confidence"] == max(probabilities.values())
    assert answer["label"] == "pituitary"
    for key in ("input", "overlay"):
        png = base64.b64decode(answer[key].removeprefix("data:image/png;base64,"))
        assert Image.open(io.BytesIO(png)).size == (80, 80)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even temporarily


def test_an_upload_is_explained_by_the_method_asked_for_among_those_offered(server):
    url, _ = server
    status, _, body = _request(
        f"{url}/api/predict?method=integrated_gradients", _phantom_png("glioma")
    )
    assert status == 200 and json.loads(body)["cam_method"] == "integrated_gradients"
    status, _, body = _request(f"{url}/api/predict?method=lime", _phantom_png("glioma"))
    assert status == 400 and "`method=lime` is not offered" in json.loads(body)["detail"]


def test_oversized_empty_and_non_image_uploads_are_refused_with_a_message(server):
    url, _ = server
    status, _, body = _request(f"{url}/api/predict", b"\0" * (2 * LIMIT))
    assert status == 413
    assert json.loads(body)["detail"] == "the file is 0.191 MB; the limit is 0.0954 MB."
    status, _, body = _request(f"{url}/api/predict", b"")
    assert status == 400 and "empty" in json.loads(body)["detail"]
    status, _, body = _request(f"{url}/api/predict", b"%PDF-1.7 a report, not a scan")
    assert status == 415
    assert json.loads(body)["detail"] == (
        "this file cannot be read as an image: not an image (unknown format)."
    )


def test_concurrent_uploads_each_get_their_own_answer(server):
    url, _ = server
    scans = [_phantom_png(PHANTOM_CLASSES[k % len(PHANTOM_CLASSES)]) for k in range(12)]
    alone = [_request(f"{url}/api/predict", scans[k])[2] for k in range(len(PHANTOM_CLASSES))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda scan: _request(f"{url}/api/predict", scan), scans))
    assert [status for status, _, _ in answers] == [200] * len(scans)
    for k, (_, _, body) in enumerate(answers):
        answer, expected = json.loads(body), json.loads(alone[k % len(PHANTOM_CLASSES)])
        assert answer["label"] == expected["label"]  # no answer mixed up with another
        got = [p["probability"] for p in answer["probabilities"]]
        assert got == pytest.approx([p["probability"] for p in expected["probabilities"]])


TOKEN = "tk-3f1c9a7e5b2d4c6e8a0b"


def test_beyond_localhost_the_app_needs_its_token(quickstart_store, monkeypatch, caplog):
    """On the quickstart's model: the scan sent with the token must be classified right."""
    monkeypatch.delenv("MEDBENCH_APP_TOKEN", raising=False)
    refused = CliRunner().invoke(
        cli, ["app", "--host", "0.0.0.0", "--tracking-uri", quickstart_store]
    )
    assert refused.exit_code == 1
    assert "--host 0.0.0.0: serving beyond this machine needs a token" in refused.output
    served = {}
    monkeypatch.setattr("uvicorn.run", lambda web, **options: served.update(web=web, **options))
    monkeypatch.setenv("MEDBENCH_APP_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    started = CliRunner().invoke(
        cli, ["app", "--host", "127.0.0.2", "--cam", "none", "--tracking-uri", quickstart_store]
    )
    assert started.exit_code == 0, started.output
    assert served["host"] == "127.0.0.2" and "http://127.0.0.2:8000" in started.output
    scan = _phantom_png("glioma")
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    with serve_in_thread(served["web"], host="127.0.0.2") as url:
        for path in ("/", "/static/app.js", "/api/model"):
            status, headers, body = _request(f"{url}{path}")
            assert status == 401 and headers["www-authenticate"] == 'Basic realm="medbench"'
            assert "needs its token" in json.loads(body)["detail"]
        wrong_tokens = [
            {"Authorization": "Bearer tk-3f1c9a7e5b2d4c6e8a0c"},
            {"Authorization": "Basic " + base64.b64encode(b"a:tk").decode()},
            {"Authorization": "Basic not-base64!"},
            {"Authorization": TOKEN},
        ]
        for wrong in wrong_tokens:
            assert _request(f"{url}/api/predict", scan, wrong)[0] == 401, wrong
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert _request(f"{url}/api/model", headers=bearer)[0] == 200
        status, _, body = _request(f"{url}/api/predict", scan, {"Authorization": f"Basic {basic}"})
        assert status == 200 and json.loads(body)["label"] == "glioma"
    assert TOKEN not in started.output + caplog.text


CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no headless browser here (apt install chromium chromium-driver)",
)
def test_a_clinician_uploads_a_scan_in_the_browser(quickstart_store, tmp_path):
    """On the quickstart's model: the scan must be classified right, and confidently."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    scan = tmp_path / "scan.png"
    scan.write_bytes(_phantom_png("glioma"))
    not_image = tmp_path / "notes.png"
    not_image.write_text("meeting notes")
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "benchmark", "app", "--port", str(port),
         "--tracking-uri", quickstart_store],
        cwd=tmp_path, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--window-size=1100,1250"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = None
    try:
        wait_for(f"http://127.0.0.1:{port}/api/model", app)
        browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
        wait = WebDriverWait(browser, 60)
        browser.get(f"http://127.0.0.1:{port}/")
        wait.until(ready.text_to_be_present_in_element((By.ID, "model"), "quickstart-phantoms"))
        assert "version 1" in browser.find_element(By.ID, "model").text
        assert "accuracy" in browser.find_element(By.ID, "scores").text
        assert browser.find_element(By.ID, "card-box").is_displayed()  # the model card, folded
        card = browser.execute_script("return document.getElementById('card').textContent")
        assert card.startswith("# quickstart:") and "Not a medical device" in card

        browser.find_element(By.ID, "file").send_keys(str(scan))
        wait.until(ready.visibility_of_element_located((By.ID, "result")))
        assert browser.find_element(By.ID, "label").text == "glioma"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#bars .bar")) == len(PHANTOM_CLASSES)
        widths = browser.execute_script(
            "return [...document.querySelectorAll('#bars .bar > div')].map(d => d.style.width)"
        )
        assert max(float(w.rstrip("%")) for w in widths) > 50
        loaded = (
            "const i = document.getElementById(arguments[0]); return i.complete && i.naturalWidth"
        )
        assert browser.execute_script(loaded, "overlay") == 80
        assert browser.execute_script(loaded, "input") == 80
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "app.png"))

        browser.find_element(By.ID, "file").send_keys(str(not_image))
        wait.until(ready.visibility_of_element_located((By.ID, "error")))
        assert "cannot be read as an image" in browser.find_element(By.ID, "error").text
        assert not browser.find_element(By.ID, "result").is_displayed()
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert all("api/predict" in e["message"] and "415" in e["message"] for e in errors), errors
    finally:
        if browser is not None:
            browser.quit()
        app.terminate()
        app.communicate(timeout=30)
    assert Image.open(ARTIFACTS / "app.png").size[0] > 500


def _tiny_app(tmp_path, **options):
    from tests.serve._tiny import tiny_model

    predictor = Predictor.load(tiny_model(tmp_path / "model", **options), device="cpu")
    return serve_in_thread(create_app(predictor, max_bytes=LIMIT))


def test_a_multilabel_model_answers_every_label_against_its_threshold(tmp_path):
    from tests.serve._tiny import LABELS, png, scans

    thresholds = {"atelectasis": 0.0, "effusion": 1.5, "nodule": 0.0}
    options = {"classes": LABELS, "task": {"kind": "multilabel"}, "thresholds": thresholds}
    with _tiny_app(tmp_path, **options) as url:
        card = json.loads(_request(f"{url}/api/model")[2])
        status, _, body = _request(f"{url}/api/predict", png(scans(1)[0]))
    assert (card["task"], card["positive"], card["thresholds"]) == ("multilabel", None, thresholds)
    assert status == 200, body
    answer = json.loads(body)
    assert "label" not in answer and answer["labels"] == ["atelectasis", "nodule"]
    bars = answer["probabilities"]
    assert [(b["class"], b["threshold"], b["found"]) for b in bars] == [
        ("atelectasis", 0.0, True), ("effusion", 1.5, False), ("nodule", 0.0, True)
    ]  # fmt: skip
    assert abs(sum(b["probability"] for b in bars) - 1) > 1e-3  # sigmoids, not a softmax
    maps = answer["overlays"]  # one per label found, likeliest first
    assert sorted(m["class"] for m in maps) == ["atelectasis", "nodule"]
    ranked = sorted(bars[0::2], key=lambda b: -b["probability"])
    assert [m["class"] for m in maps] == [b["class"] for b in ranked]
    for found in maps:
        png_bytes = base64.b64decode(found["overlay"].removeprefix("data:image/png;base64,"))
        assert Image.open(io.BytesIO(png_bytes)).size == (32, 32)


@pytest.mark.parametrize(("threshold", "label"), [(0.0, "cancer"), (1.5, "benign")])
def test_a_binary_model_answers_the_positive_class_against_its_threshold(
    tmp_path, threshold, label
):
    from tests.serve._tiny import BINARY, png, scans

    task = {"kind": "binary", "positive": "cancer"}
    options = {"classes": BINARY, "task": task, "thresholds": {"cancer": threshold}}
    with _tiny_app(tmp_path, **options) as url:
        card = json.loads(_request(f"{url}/api/model")[2])
        status, _, body = _request(f"{url}/api/predict", png(scans(1)[0]))
    assert (card["task"], card["positive"]) == ("binary", "cancer")
    assert card["thresholds"] == {"cancer": threshold}
    assert status == 200, body
    answer = json.loads(body)
    assert (answer["label"], answer["positive"], answer["threshold"]) == (
        label, "cancer", threshold
    )  # fmt: skip
    probabilities = {p["class"]: p["probability"] for p in answer["probabilities"]}
    assert answer["confidence"] == probabilities[label]
    assert answer["overlay"].startswith("data:image/png;base64,")
