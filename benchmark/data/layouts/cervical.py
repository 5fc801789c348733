"""Cervical cytology (Pap smear) datasets."""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.data.layouts._base import (
    LayoutOptions,
    Source,
    find_folder,
    image_files,
    make_source,
    not_found,
    register,
)

SIPAKMED_CLASSES = (
    "Dyskeratotic",
    "Koilocytotic",
    "Metaplastic",
    "Parabasal",
    "Superficial-Intermediate",
)
_CLUSTER = re.compile(r"^(\d+)_\d+")


@register("sipakmed")
def sipakmed(root: Path, options: LayoutOptions) -> Source:
    """SIPaKMeD: im_<Class>/im_<Class>/CROPPED/NNN_MM.bmp; group = class + cluster image NNN."""
    rows, missing, skipped = [], [], []
    for label in SIPAKMED_CLASSES:
        cropped = find_folder(
            root,
            lambda p, label=label: p.name == "CROPPED" and f"im_{label}" in p.parts,
            depth=4,
        )
        if cropped is None:
            missing.append(f"im_{label}/im_{label}/CROPPED/")
            continue
        for path in image_files(cropped, skipped):
            cluster = _CLUSTER.match(path.stem)
            # Cells cropped from one cluster image share a slide region: keep them together.
            group = f"{label}/{cluster.group(1)}" if cluster else ""
            rows.append({"label": label, "split": "", "group": group, "path": path})
    if missing:
        raise not_found(root, "sipakmed", f"the CROPPED folders {missing}")
    return make_source(root, rows, expected="im_<Class>/im_<Class>/CROPPED/*.bmp", notes=skipped)
