"""MedMNIST's own facts, read from the installed ``medmnist`` package without importing it
(importing it loads torch and creates ``~/.medmnist``): the ``INFO`` table of every dataset
(URLs, MD5s, split sizes, label names, task, channels, licence), the file name of each
dataset and size, and what to cite. 3D MedMNIST is out of scope: only the 2D flags are
offered."""

from __future__ import annotations

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path
from typing import Any

from benchmark.errors import DataError

__all__ = [
    "CITATION",
    "HOMEPAGE",
    "SIZES",
    "check_size",
    "file_name",
    "flags",
    "info",
    "labels",
    "licence",
    "size_flag",
    "task_kind",
    "url_and_md5",
]

SIZES = (28, 64, 128, 224)
HOMEPAGE = "https://medmnist.com/"
CITATION = (
    "Yang, J., Shi, R., Wei, D. et al. MedMNIST v2 - A large-scale lightweight benchmark for "
    "2D and 3D biomedical image classification. Scientific Data 10, 41 (2023); Doerrich, S., "
    "Di Salvo, F., Brockmann, J., Ledig, C. Rethinking model prototyping through the MedMNIST+ "
    "dataset collection. Scientific Reports 15, 7669 (2025)"
)
_UNSAFE = re.compile(r"[^\w.:-]*[^\w .:-]+[^\w.:-]*")  # what a metric key refuses
_TASKS = {  # MedMNIST's task names -> medbench's task kinds
    "multi-class": "multiclass",
    "binary-class": "binary",
    "multi-label, binary-class": "multilabel",
    "ordinal-regression": "ordinal",
}


@cache
def _table() -> dict[str, dict[str, Any]]:
    """``INFO`` as the package writes it, parsed as a literal (nothing of it is run)."""
    spec = importlib.util.find_spec("medmnist")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the medmnist package is not installed; pip install medmnist")
    path = Path(next(iter(spec.submodule_search_locations))) / "info.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "INFO" for t in node.targets
        ):
            table: dict[str, dict[str, Any]] = ast.literal_eval(node.value)
            return {flag: entry for flag, entry in table.items() if not flag.endswith("3d")}
    raise DataError(f"no INFO table in {path}: is the medmnist package intact?")


def flags() -> list[str]:
    """The 2D MedMNIST datasets, in ``INFO``'s order (``pathmnist``, ``chestmnist``, ...)."""
    return list(_table())


def info(flag: str) -> dict[str, Any]:
    """``INFO[flag]``; an unknown flag is refused with the list of known ones."""
    table = _table()
    if flag not in table:
        raise DataError(
            f"unknown MedMNIST flag {flag!r}; the 2D datasets are {', '.join(table)} "
            "(3D MedMNIST is not supported)"
        )
    return table[flag]


def check_size(size: int) -> int:
    if size not in SIZES:
        raise DataError(f"MedMNIST has no size {size}; the sizes are {', '.join(map(str, SIZES))}")
    return size


def file_name(flag: str, size: int) -> str:
    """``pathmnist.npz`` at 28 px, ``pathmnist_64.npz`` above (the name MedMNIST publishes
    and its ``Evaluator`` reads)."""
    info(flag)
    return f"{flag}{size_flag(check_size(size))}.npz"


def size_flag(size: int) -> str:
    """``""`` at 28 px, ``"_{size}"`` above: MedMNIST's suffix of file names."""
    return "" if check_size(size) == 28 else f"_{size}"


def url_and_md5(flag: str, size: int) -> tuple[str, str]:
    """Where ``INFO`` says the file of ``flag`` at ``size`` is published, and its MD5."""
    entry, suffix = info(flag), size_flag(size)
    return entry[f"url{suffix}"], entry[f"MD5{suffix}"]


def licence(flag: str) -> tuple[str, bool]:
    """``INFO``'s licence of ``flag`` and whether it allows commercial use (not where it is
    a non-commercial one: DermaMNIST's CC BY-NC 4.0)."""
    text = info(flag).get("license", "CC BY 4.0")
    return text, "NC" not in text


def task_kind(flag: str) -> str:
    """The medbench task of a MedMNIST dataset (``multiclass``, ``binary``, ``multilabel``,
    ``ordinal``)."""
    return _TASKS[info(flag)["task"]]


def labels(flag: str) -> list[str]:
    """Class (or finding) names in label order, as INFO writes them but for the characters a
    metric's name cannot hold (``test/{class}/f1``): BloodMNIST's ``immature
    granulocytes(myelocytes, ...)`` becomes ``immature granulocytes myelocytes ...``."""
    table = info(flag)["label"]
    return [_UNSAFE.sub(" ", table[str(i)]).strip() for i in range(len(table))]
