"""Brain MRI datasets from Kaggle: each layout's writer of a fake tree, then its reader."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmark.data.layouts._base import (
    MASK_SUFFIX,
    LayoutOptions,
    Source,
    class_folder_rows,
    find_folder,
    find_folders,
    make_source,
    not_found,
    register,
)
from benchmark.data.layouts._synth import PhantomWriter

_PREFIX = {"glioma": "gl", "meningioma": "me", "notumor": "no", "pituitary": "pi"}


def write_brain_tumor_mri(w: PhantomWriter) -> None:
    """Training/ and Testing/ with a folder per class; each lesion mask beside its image
    (``<stem>_mask.png``)."""
    w.expect(len(_PREFIX) * w.per_class)
    for c, label in enumerate(_PREFIX):
        for k in range(w.per_class):
            test = w.is_test(k)
            folder, tag = ("Testing", "Te") if test else ("Training", "Tr")
            number = k if test else k - w.test_count
            image, mask = w.image(k * 4 + c, label)
            stem = f"{tag}-{_PREFIX[label]}_{number:04d}"
            if test and number == 0 and label == "glioma":
                stem = "Te-glTr_0000"  # the archive's odd name: the folder, not the name, counts
            path = w.out / folder / label / f"{stem}.jpg"
            w.write(path, image, split="test" if test else "train", label=label)
            mask_path = path.with_name(f"{stem}{MASK_SUFFIX}.png")
            cv2.imwrite(str(mask_path), mask.astype(np.uint8) * 255)


@register("brain-tumor-mri", writer=write_brain_tumor_mri)
def brain_tumor_mri(root: Path, options: LayoutOptions) -> Source:
    """Kaggle Brain Tumor MRI: Training/ and Testing/, each with one folder per class."""
    top = find_folder(root, lambda p: (p / "Training").is_dir() and (p / "Testing").is_dir())
    if top is None:
        raise not_found(
            root, "brain-tumor-mri", expected="Training/ and Testing/ with a folder per class"
        )
    skipped: list[str] = []
    # The official split is the folder; file names (Te-glTr_0000.jpg) are not trusted.
    rows = class_folder_rows(top / "Training", "train", skipped=skipped)
    rows += class_folder_rows(top / "Testing", "test", skipped=skipped)
    return make_source(root, rows, expected="Training/<class>/*.jpg", notes=skipped)


_YES_NO = ("yes", "no")


def write_brain_mri_yes_no(w: PhantomWriter) -> None:
    """yes/ and no/ with mixed extensions and names, and a partial copy of both in
    brain_tumor_dataset/."""
    w.expect(len(_YES_NO) * w.per_class)
    suffixes = (".jpg", ".JPG", ".jpeg", ".png")
    for label, kinds in (("yes", ("glioma", "meningioma", "pituitary")), ("no", ("notumor",))):
        for k in range(w.per_class):
            image, _ = w.image(k * 2 + (label == "no"), kinds[k % len(kinds)])
            stem = f"Y{k + 1}" if label == "yes" else (f"no {k + 1}" if k % 2 else f"No{k + 1}")
            name = stem + suffixes[k % len(suffixes)]
            w.write(w.out / label / name, image, label=label)
            if k < 3:  # the archive's brain_tumor_dataset/ copy
                copy = w.out / "brain_tumor_dataset" / label
                copy.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(copy / name), image)


@register("brain-mri-yes-no", writer=write_brain_mri_yes_no)
def brain_mri_yes_no(root: Path, options: LayoutOptions) -> Source:
    """Kaggle Brain MRI Images for Brain Tumor Detection: yes/ and no/ (a copy is counted once)."""

    def has_yes_no(p: Path) -> bool:
        return all((p / name).is_dir() for name in _YES_NO)

    found = list(find_folders(root, has_yes_no))
    if not found:
        raise not_found(root, "brain-mri-yes-no", expected="yes/ and no/ folders of images")
    top, *copies = found
    skipped: list[str] = []
    rows = class_folder_rows(top, "", skipped=skipped, only=_YES_NO)
    seen = {(row["label"], Path(row["path"]).name) for row in rows}
    notes = list(skipped)
    for copy in copies:  # the archive also holds brain_tumor_dataset/yes|no: count each file once
        extra = [
            row
            for row in class_folder_rows(copy, "", skipped=skipped, only=_YES_NO)
            if (row["label"], Path(row["path"]).name) not in seen
        ]
        seen |= {(row["label"], Path(row["path"]).name) for row in extra}
        rows += extra
        notes.append(
            f"{copy.relative_to(root)}: a copy of yes/ and no/; {len(extra)} image(s) not "
            "already in the first copy were added"
        )
    return make_source(root, rows, expected="yes/*.jpg and no/*.jpg", notes=notes)
