"""MedMNIST's facts read from the installed package without importing it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmark.data import medmnist
from benchmark.errors import DataError


def test_the_2d_flags_with_their_tasks_and_files():
    assert len(medmnist.flags()) == 12 and not any(f.endswith("3d") for f in medmnist.flags())
    assert medmnist.task_kind("chestmnist") == "multilabel"
    assert medmnist.task_kind("retinamnist") == "ordinal"
    assert medmnist.task_kind("breastmnist") == "binary"
    assert medmnist.file_name("pathmnist", 28) == "pathmnist.npz"
    assert medmnist.file_name("pathmnist", 224) == "pathmnist_224.npz"
    url, md5 = medmnist.url_and_md5("dermamnist", 64)
    assert url.startswith("https://") and "dermamnist_64.npz" in url and len(md5) == 32
    assert medmnist.info("dermamnist")["license"] == "CC BY-NC 4.0"


def test_label_names_are_metric_keys():
    from mlflow.utils.validation import validate_param_and_metric_name

    for flag in medmnist.flags():
        names = medmnist.labels(flag)
        assert len(set(names)) == len(names) == len(medmnist.info(flag)["label"])
        for name in names:
            assert validate_param_and_metric_name(f"test/{name}/f1"), (flag, name)
    assert medmnist.labels("bloodmnist")[3].startswith("immature granulocytes myelocytes")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: medmnist.info("organmnist3d"), "3D MedMNIST is not supported"),
        (lambda: medmnist.info("nomnist"), "unknown MedMNIST flag 'nomnist'"),
        (lambda: medmnist.file_name("pathmnist", 32), "MedMNIST has no size 32"),
    ],
)
def test_bad_flags_and_sizes_are_one_line(call, message):
    with pytest.raises(DataError, match=message):
        call()


def test_reading_info_imports_neither_the_package_nor_torch():
    code = (
        "import sys; from benchmark.data import medmnist; medmnist.labels('chestmnist'); "
        "print(sorted(m for m in ('torch', 'medmnist') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
