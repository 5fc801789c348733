"""DICOM through every reader, checked against pydicom's own decoding of its test files."""

from __future__ import annotations

import base64
import io
import json
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array

from benchmark.data import (
    DicomOptions,
    Window,
    assign_splits,
    create_source,
    get_layout,
    load_images,
    scan,
    write_synthetic,
)
from benchmark.data.files import BadImage, decode_image, decode_with_mode, read_image
from benchmark.errors import DataError


def _file(name: str) -> bytes:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not shipped with pydicom"
    with open(path, "rb") as f:
        return f.read()


def _dataset(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(_file(name)))


def _output_range(ds: pydicom.Dataset) -> tuple[float, float]:
    """What pydicom's VOI windowing maps onto: the stored bit depth's range, rescaled."""
    if ds.PixelRepresentation == 0:
        low, high = 0.0, 2.0**ds.BitsStored - 1
    else:
        low, high = -(2.0 ** (ds.BitsStored - 1)), 2.0 ** (ds.BitsStored - 1) - 1
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    return low * slope + intercept, high * slope + intercept


def _pydicom_8bit(ds: pydicom.Dataset) -> np.ndarray:
    """pydicom's own pipeline (pixels, modality LUT, VOI LUT) scaled to 0–255."""
    voi = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    low, high = _output_range(ds)
    return (voi - low) / (high - low) * 255


def _encoded(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_header_window_matches_pydicom_on_an_mr_slice():
    ours, mode = decode_with_mode(_file("MR_small.dcm"))
    reference = _pydicom_8bit(_dataset("MR_small.dcm"))
    assert ours.dtype == np.uint8 and ours.shape == (64, 64) and mode == "DICOM MONOCHROME2"
    assert np.abs(ours - reference).max() <= 1.0
    assert abs(ours.mean() - reference.mean()) < 0.5 and abs(ours.std() - reference.std()) < 0.5


def test_a_set_window_on_ct_matches_pydicom_with_that_window_in_the_header():
    ds = _dataset("CT_small.dcm")
    assert "RescaleIntercept" in ds  # Hounsfield units through the modality rescale
    ds.WindowCenter, ds.WindowWidth = 40, 400  # a soft-tissue window in Hounsfield units
    reference = _pydicom_8bit(ds)
    soft = DicomOptions(window=Window(center=40, width=400))
    ours = decode_image(_file("CT_small.dcm"), dicom=soft)
    assert np.abs(ours - reference).max() <= 1.0
    # the file has no window of its own: the header setting falls back to percentiles
    auto = decode_image(_file("CT_small.dcm"))
    hu = apply_modality_lut(ds.pixel_array, ds)
    low, high = np.percentile(hu, [0.5, 99.5])
    expected = np.clip((hu - low) / (high - low), 0, 1) * 255
    assert np.abs(auto - expected).max() <= 1.0
    assert auto.min() == 0 and auto.max() == 255


def test_monochrome1_is_inverted():
    ds = _dataset("MR_small.dcm")  # pydicom ships no MONOCHROME1 file: one made from it
    ds.PhotometricInterpretation = "MONOCHROME1"
    inverted, mode = decode_with_mode(_encoded(ds))
    assert mode == "DICOM MONOCHROME1"
    assert np.array_equal(inverted, 255 - decode_image(_file("MR_small.dcm")))


def test_one_frame_of_a_multi_frame_file():
    ds = _dataset("examples_ybr_color.dcm")  # 30 JPEG frames, YBR converted to RGB
    assert ds.NumberOfFrames == 30
    middle = decode_image(_file("examples_ybr_color.dcm"))
    assert np.array_equal(middle, pixel_array(ds, index=15))
    first = decode_image(_file("examples_ybr_color.dcm"), dicom=DicomOptions(frame=0))
    assert np.array_equal(first, pixel_array(ds, index=0))
    dose = _dataset("rtdose.dcm")  # 15 frames of 32-bit dose, no window: percentiles
    frame = apply_modality_lut(pixel_array(dose, index=7), dose)
    low, high = np.percentile(frame, [0.5, 99.5])
    expected = np.clip((frame - low) / (high - low), 0, 1) * 255
    assert np.abs(decode_image(_file("rtdose.dcm")) - expected).max() <= 1.0
    with pytest.raises(BadImage, match=r"dicom.frame is 15, but the file has 15 frame\(s\)"):
        decode_image(_file("rtdose.dcm"), dicom=DicomOptions(frame=15))


def test_files_it_cannot_decode_say_why():
    with pytest.raises(BadImage, match=r"JPEG-LS Lossless.*install a decoder.*pylibjpeg"):
        decode_image(_file("MR_small_jpeg_ls_lossless.dcm"))
    with pytest.raises(BadImage, match="RT Plan Storage without pixel data"):
        decode_image(_file("rtplan.dcm"))
    with pytest.raises(BadImage, match="less than expected"):
        decode_image(_file("MR_truncated.dcm"))


@pytest.fixture
def dicom_tree(tmp_path):
    """pydicom's files in an imagefolder tree and a csv manifest, with one that cannot be
    decoded here."""
    root = tmp_path / "scans"
    names = {
        "ct": ["CT_small.dcm", "MR_small.dcm"],  # class names are only labels here
        "mr": ["MR_small_RLE.dcm", "examples_ybr_color.dcm", "MR_small_jpeg_ls_lossless.dcm"],
    }
    rows = []
    for label, files in names.items():
        (root / label).mkdir(parents=True)
        for name in files:
            shutil.copy(get_testdata_file(name, download=False), root / label / name)
            rows.append({"path": f"{label}/{name}", "label": label})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


@pytest.mark.parametrize("layout", ["imagefolder", "csv"])
def test_layouts_scan_and_loading_read_dicom(dicom_tree, layout):
    source = create_source(layout, dicom_tree)
    assert len(source) == 5
    facts = scan(source).set_index(source.records["id"])
    assert facts.at["ct/CT_small.dcm", "mode"] == "DICOM MONOCHROME2"
    assert facts.at["mr/examples_ybr_color.dcm", "mode"] == "DICOM RGB"
    assert (facts.at["ct/MR_small.dcm", "width"], facts.at["ct/MR_small.dcm", "height"]) == (64, 64)
    assert "JPEG-LS" in facts.at["mr/MR_small_jpeg_ls_lossless.dcm", "error"]
    readable = source.subset(facts["error"].isna().to_numpy())
    images = load_images(readable, ops=[], size=32)
    k = list(readable.records["id"]).index("ct/MR_small.dcm")
    assert images.images.shape == (4, 3, 32, 32)  # the colour file makes the set colour
    decoded = decode_image(_file("MR_small.dcm"))
    assert abs(float(images.images[k].float().mean()) - decoded.mean()) < 2


def test_dicom_settings_reach_the_decoder_and_the_cache_key(dicom_tree):
    options = get_layout("imagefolder").options.model_validate({"dicom": {"window": "auto"}})
    source = create_source("imagefolder", dicom_tree, options=options)
    assert source.dicom == DicomOptions(window="auto")
    i = list(source.records["id"]).index("ct/MR_small.dcm")
    auto = source.read(i)[0]
    header = create_source("imagefolder", dicom_tree).read(i)[0]
    assert not np.array_equal(auto, header)  # MR_small has a header window; auto differs
    assert auto.min() == 0 and auto.max() == 255


def test_patient_ids_from_headers_keep_patients_in_one_split(tmp_path):
    root = tmp_path / "tree"
    write_synthetic(root, layout="imagefolder", per_class=6, size=32, format="dcm")
    options = get_layout("imagefolder").options.model_validate({"group": "patient_id"})
    source = create_source("imagefolder", root, options=options)
    groups = source.records["group"]
    assert groups.str.startswith("patient-").all() and groups.nunique() == 4 * 4  # 1+1+2+2
    ids = {pydicom.dcmread(p, stop_before_pixels=True).PatientID for p in source.records["path"]}
    assert not set(groups) & ids  # only a hash of the Patient ID leaves the file
    split = assign_splits(
        source.records.assign(split=""), val_fraction=0.25, test_fraction=0.25, seed=3,
        groups=groups,
    )  # fmt: skip
    assert (pd.crosstab(groups, split) > 0).sum(axis=1).max() == 1
    with pytest.raises(DataError, match="no files to read it from"):
        by_patient = get_layout("synthetic").options.model_validate({"group": "patient_id"})
        create_source("synthetic", None, options=by_patient)


def test_synth_writes_dicom_that_decodes_to_the_phantoms(tmp_path):
    from benchmark.data import render_phantom

    write_synthetic(tmp_path / "tree", layout="csv", per_class=2, size=48, format="dcm")
    manifest = pd.read_csv(tmp_path / "tree" / "manifest.csv")
    assert manifest["path"].str.endswith(".dcm").all()
    first = read_image(tmp_path / "tree" / manifest["path"][0])
    assert np.array_equal(first, render_phantom(0, size=48, label="glioma").image)
    with pytest.raises(DataError, match="format 'dcm' for layout 'brain-tumor-mri'"):
        write_synthetic(tmp_path / "other", layout="brain-tumor-mri", format="dcm")


def test_a_suite_on_a_dicom_imagefolder_runs_and_its_model_reads_dicom_as_trained(
    tmp_path, tiny_suite, tracking_uri
):
    from typer.testing import CliRunner

    from benchmark import track
    from benchmark.cli import app
    from benchmark.runner import run_suite
    from benchmark.serve import Predictor
    from benchmark.serve.app import create_app
    from benchmark.suite import load_suite
    from tests._server import serve_in_thread
    from tests.conftest import write_suite

    root = tmp_path / "tree"
    write_synthetic(root, layout="imagefolder", per_class=8, size=32, format="dcm")
    options = {"group": "patient_id", "dicom": {"window": "auto", "frame": 0}}
    tiny_suite["datasets"] = {
        "scans": {"layout": "imagefolder", "root": str(root), "options": options}
    }
    tiny_suite["train"]["epochs"] = 1
    tiny_suite["evaluate"] = {"batch_size": 32, "bootstrap": 0, "latency": None}
    suite = load_suite(write_suite(tmp_path / "dicom.yaml", tiny_suite))
    [outcome] = run_suite(suite, tracking_uri=tracking_uri)
    assert outcome.status == "finished", outcome.error
    model = f"runs:/{outcome.run_id}/model"
    source = track.connect(tracking_uri).resolve_model(model, tmp_path / "model")
    predictor = Predictor.load(source.folder, device="cpu")
    assert predictor.config["dicom"] == {"window": "auto", "percentiles": [0.5, 99.5], "frame": 0}

    result = CliRunner().invoke(
        app,
        ["predict", model, str(root / "test"), "--output", str(tmp_path / "predicted"),
         "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "glioma_0000.dcm" in result.output and "pituitary_0000.dcm" in result.output
    assert len(pd.read_csv(tmp_path / "predicted" / "predictions.csv")) == 4 * 2

    scan = str(root / "test" / "notumor" / "notumor_0000.dcm")
    cams = tmp_path / "cams"
    result = CliRunner().invoke(
        app, ["explain", model, scan, "--output", str(cams), "--tracking-uri", tracking_uri]
    )
    assert result.exit_code == 0, result.output
    assert any(cams.rglob("*.png"))

    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    sent = base64.b64encode(Path(scan).read_bytes()).decode()  # what a REST client sends
    table = mlflow.pyfunc.load_model(model).predict(pd.DataFrame({"image": [sent]}))
    assert table["label"][0] == predictor.predict([scan])["label"][0]

    with serve_in_thread(create_app(predictor, source=source, max_bytes=1 << 20)) as url:
        request = urllib.request.Request(
            f"{url}/api/predict", data=_file("MR_small.dcm"), method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    assert answer["label"] in predictor.classes and 0 < answer["confidence"] <= 1
