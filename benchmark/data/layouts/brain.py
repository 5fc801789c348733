"""Brain MRI datasets from Kaggle."""

from __future__ import annotations

from pathlib import Path

from benchmark.data.layouts._base import (
    LayoutOptions,
    Source,
    class_folder_rows,
    find_folder,
    find_folders,
    make_source,
    not_found,
    register,
)


@register("brain-tumor-mri")
def brain_tumor_mri(root: Path, options: LayoutOptions) -> Source:
    """Kaggle Brain Tumor MRI: Training/ and Testing/, each with one folder per class."""
    top = find_folder(root, lambda p: (p / "Training").is_dir() and (p / "Testing").is_dir())
    if top is None:
        raise not_found(root, "brain-tumor-mri", "Training/ and Testing/ with a folder per class")
    skipped: list[str] = []
    # The official split is the folder; file names (Te-glTr_0000.jpg) are not trusted.
    rows = class_folder_rows(top / "Training", "train", skipped)
    rows += class_folder_rows(top / "Testing", "test", skipped)
    return make_source(root, rows, expected="Training/<class>/*.jpg", notes=skipped)


_YES_NO = ("yes", "no")


@register("brain-mri-yes-no")
def brain_mri_yes_no(root: Path, options: LayoutOptions) -> Source:
    """Kaggle Brain MRI Images for Brain Tumor Detection: yes/ and no/ (a copy is counted once)."""

    def has_yes_no(p: Path) -> bool:
        return all((p / name).is_dir() for name in _YES_NO)

    top, *copies = list(find_folders(root, has_yes_no)) or [None]
    if top is None:
        raise not_found(root, "brain-mri-yes-no", "yes/ and no/ folders of images")
    skipped: list[str] = []
    rows = class_folder_rows(top, "", skipped, only=_YES_NO)
    seen = {(row["label"], Path(row["path"]).name) for row in rows}
    notes = list(skipped)
    for copy in copies:  # the archive also holds brain_tumor_dataset/yes|no: count each file once
        extra = [
            row
            for row in class_folder_rows(copy, "", skipped, only=_YES_NO)
            if (row["label"], Path(row["path"]).name) not in seen
        ]
        seen |= {(row["label"], Path(row["path"]).name) for row in extra}
        rows += extra
        notes.append(
            f"{copy.relative_to(root)}: a copy of yes/ and no/; {len(extra)} image(s) not "
            "already in the first copy were added"
        )
    return make_source(root, rows, expected="yes/*.jpg and no/*.jpg", notes=notes)
