"""Cervical cytology (Pap smear) datasets: each layout's writer of a fake tree, then its
reader."""

from __future__ import annotations

import re
from functools import partial
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
from benchmark.data.layouts._synth import PhantomWriter

SIPAKMED_CLASSES = (
    "Dyskeratotic",
    "Koilocytotic",
    "Metaplastic",
    "Parabasal",
    "Superficial-Intermediate",
)
_CLUSTER = re.compile(r"^(\d+)_\d+")


def write_sipakmed(w: PhantomWriter) -> None:
    """im_<Class>/im_<Class>/CROPPED/NNN_MM.bmp (three cells cropped from each cluster
    image) with their ``_cyt.dat`` side files, and the whole cluster image beside CROPPED/."""
    kinds = ("glioma", "meningioma", "notumor", "pituitary", "glioma")
    w.expect(len(SIPAKMED_CLASSES) * (w.per_class + 1))
    for c, label in enumerate(SIPAKMED_CLASSES):
        folder = w.out / f"im_{label}" / f"im_{label}"
        for k in range(w.per_class):
            cluster, cell = divmod(k, 3)  # three cells cropped from each cluster image
            image, _ = w.image(k * 5 + c, kinds[c], tint=c)
            stem = f"{cluster + 1:03d}_{cell + 1:02d}"
            w.write(folder / "CROPPED" / f"{stem}.bmp", image, label=label)
            (folder / "CROPPED" / f"{stem}_cyt.dat").write_text("12.0,14.0\n13.0,15.5\n")
        whole, _ = w.image(10_000 + c, kinds[c], tint=c)
        w.write(folder / "001.bmp", whole)  # the cluster image, not a sample: left out


def _is_cropped_of(folder: Path, *, label: str) -> bool:
    """Whether ``folder`` is the CROPPED folder of class ``label``'s images."""
    return folder.name == "CROPPED" and f"im_{label}" in folder.parts


@register("sipakmed", writer=write_sipakmed)
def sipakmed(root: Path, options: LayoutOptions) -> Source:
    """SIPaKMeD: im_<Class>/im_<Class>/CROPPED/NNN_MM.bmp; group = class + cluster image NNN."""
    rows: list[dict[str, object]] = []
    missing: list[str] = []
    skipped: list[str] = []
    for label in SIPAKMED_CLASSES:
        cropped = find_folder(root, partial(_is_cropped_of, label=label), depth=4)
        if cropped is None:
            missing.append(f"im_{label}/im_{label}/CROPPED/")
            continue
        for path in image_files(cropped, skipped):
            cluster = _CLUSTER.match(path.stem)
            # Cells cropped from one cluster image share a slide region: keep them together.
            group = f"{label}/{cluster.group(1)}" if cluster else ""
            rows.append({"label": label, "split": "", "group": group, "path": path})
    if missing:
        raise not_found(root, "sipakmed", expected=f"the CROPPED folders {missing}")
    return make_source(root, rows, expected="im_<Class>/im_<Class>/CROPPED/*.bmp", notes=skipped)
