"""Each seed dataset's layout read from a fake tree with the real names and quirks."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmark.data import create_source, get_layout, write_synthetic
from benchmark.errors import DataError


def _source(tmp_path, layout, per_class=6, **options):
    root = tmp_path / layout
    write_synthetic(root, layout=layout, per_class=per_class, size=40, seed=1)
    return create_source(layout, root, options=get_layout(layout).options(**options))


def _counts(source) -> dict:
    records = source.records
    return {
        split: group["label"].value_counts().sort_index().to_dict()
        for split, group in records.groupby("split")
    }


def test_brain_tumor_mri_official_split_from_folders_not_names(tmp_path):
    source = _source(tmp_path, "brain-tumor-mri", per_class=5)
    assert _counts(source) == {
        "test": dict.fromkeys(["glioma", "meningioma", "notumor", "pituitary"], 1),
        "train": dict.fromkeys(["glioma", "meningioma", "notumor", "pituitary"], 4),
    }
    odd = source.records.set_index("id").loc["Testing/glioma/Te-glTr_0000.jpg"]
    assert odd["split"] == "test" and odd["label"] == "glioma"
    assert (source.records["mask"] != "").all()  # lesion masks found beside the images


def test_iq_oth_nccd_nested_twice_source_spelling_and_unlabelled_folder(tmp_path):
    source = _source(tmp_path, "iq-oth-nccd")
    assert source.classes == ["Bengin", "Malignant", "Normal"]
    assert _counts(source) == {"": {"Bengin": 6, "Malignant": 6, "Normal": 6}}
    assert not source.records["id"].str.contains("Test cases").any()
    assert any("1 unlabelled image" in note for note in source.notes)
    assert source.records["id"].str.endswith(").jpg").all()  # "Bengin case (1).jpg"
    renamed = create_source(
        "iq-oth-nccd",
        tmp_path / "iq-oth-nccd",
        options=get_layout("iq-oth-nccd").options(labels={"Bengin": "Benign"}),
    )
    assert renamed.classes == ["Benign", "Malignant", "Normal"]
    with pytest.raises(DataError, match=r"renames \['Benign'\].*classes are"):
        create_source(
            "iq-oth-nccd",
            tmp_path / "iq-oth-nccd",
            options=get_layout("iq-oth-nccd").options(labels={"Benign": "x"}),
        )


def test_sipakmed_cropped_cells_grouped_by_cluster_image(tmp_path):
    source = _source(tmp_path, "sipakmed")
    assert len(source.classes) == 5 and len(source) == 30
    assert source.records["id"].str.contains("/CROPPED/").all()  # whole-slide images left out
    groups = source.records.set_index("id")["group"]
    assert groups["im_Parabasal/im_Parabasal/CROPPED/001_02.bmp"] == "Parabasal/001"
    assert source.records.groupby("group").size().max() == 3  # three cells per cluster


def test_cdd_cesm_workbook_names_with_spaces_tasks_and_patients(tmp_path):
    source = _source(tmp_path, "cdd-cesm")
    assert source.classes == ["cancer", "normal"]
    assert len(source) == 12  # 6 normal + 6 malignant; benign left out of this task
    assert any("benign" in note for note in source.notes)
    assert source.records["id"].str.endswith(" .jpg").any()  # "P2_R_DM_MLO .jpg" matched
    assert source.records["group"].str.match(r"^P\d+$").all()
    three = create_source(
        "cdd-cesm",
        tmp_path / "cdd-cesm",
        options=get_layout("cdd-cesm").options(task="three-class", images="subtracted"),
    )
    assert three.classes == ["Benign", "Malignant", "Normal"] and len(three) == 18
    assert three.records["id"].str.contains("Subtracted images").all()


def test_mias_info_rows_deduplicated_and_left_right_pairs_grouped(tmp_path):
    source = _source(tmp_path, "mias")
    assert _counts(source) == {"": {"benign": 6, "malignant": 6, "normal": 6}}
    groups = source.records.set_index("id")["group"]
    assert groups["all-mias/mdb001.pgm"] == groups["all-mias/mdb002.pgm"] == "patient001"
    assert groups["all-mias/mdb003.pgm"] == "patient002"
    binary = create_source(
        "mias", tmp_path / "mias", options=get_layout("mias").options(task="abnormal-vs-normal")
    )
    assert _counts(binary) == {"": {"abnormal": 12, "normal": 6}}


def test_chest_xray_ignores_nested_copy_and_macosx_and_reads_patients(tmp_path):
    source = _source(tmp_path, "chest-xray-pneumonia")
    assert _counts(source) == {
        "test": {"NORMAL": 1, "PNEUMONIA": 2},
        "train": {"NORMAL": 4, "PNEUMONIA": 8},
        "val": {"NORMAL": 1, "PNEUMONIA": 2},
    }
    ids = source.records["id"]
    assert not ids.str.contains("chest_xray/chest_xray|__MACOSX").any()
    assert any("nested copy" in note for note in source.notes)
    groups = source.records.set_index("id")["group"]
    assert groups["chest_xray/train/PNEUMONIA/person1002_bacteria_2.jpeg"] == "person1002"
    assert groups["chest_xray/train/NORMAL/NORMAL2-IM-0002-0001.jpeg"] == "NORMAL2-IM-0002"
    three = create_source(
        "chest-xray-pneumonia",
        tmp_path / "chest-xray-pneumonia",
        options=get_layout("chest-xray-pneumonia").options(task="three-class"),
    )
    assert three.classes == ["BACTERIA", "NORMAL", "VIRUS"]


def test_brain_mri_yes_no_mixed_extensions_and_copy_counted_once(tmp_path):
    source = _source(tmp_path, "brain-mri-yes-no")
    assert _counts(source) == {"": {"no": 6, "yes": 6}}
    suffixes = set(source.records["id"].str.rsplit(".", n=1).str[1])
    assert suffixes == {"jpg", "JPG", "jpeg", "png"}
    assert not source.records["id"].str.startswith("brain_tumor_dataset").any()
    # An image only in the copy is added once.
    (tmp_path / "brain-mri-yes-no/brain_tumor_dataset/yes/Y99.jpg").write_bytes(
        (tmp_path / "brain-mri-yes-no/yes/Y1.jpg").read_bytes()
    )
    again = create_source("brain-mri-yes-no", tmp_path / "brain-mri-yes-no")
    assert len(again) == 13


def test_csv_manifest_with_splits_and_groups_and_its_errors(tmp_path):
    source = _source(tmp_path, "csv")
    assert _counts(source)["test"] == dict.fromkeys(
        ["glioma", "meningioma", "notumor", "pituitary"], 1
    )
    assert source.records["group"].str.startswith("subject").all()
    manifest = tmp_path / "csv/manifest.csv"
    table = pd.read_csv(manifest)
    table.loc[0, "path"] = "images/missing.png"
    table.loc[1, "split"] = "holdout"
    table.loc[2, "path"] = "../outside.png"
    table.to_csv(manifest, index=False)
    with pytest.raises(DataError, match=r"3 bad row\(s\)") as caught:
        create_source("csv", tmp_path / "csv")
    message = str(caught.value)
    assert "line 2: images/missing.png is not an image file" in message
    assert "line 3: split 'holdout'" in message and "line 4: ../outside.png lies outside" in message


def test_a_class_missing_from_an_official_split_is_named(tmp_path):
    root = tmp_path / "bt"
    write_synthetic(root, per_class=3, size=32)
    for path in (root / "Testing/pituitary").iterdir():
        path.unlink()
    (root / "Testing/pituitary").rmdir()
    with pytest.raises(DataError, match=r"no images of 'pituitary' in its test split"):
        create_source("brain-tumor-mri", root)
    (root / "Testing/pituitary").mkdir()
    with pytest.raises(DataError, match=r"class folders without images: .*pituitary"):
        create_source("brain-tumor-mri", root)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("iq-oth-nccd", "Bengin cases"),
        ("sipakmed", "CROPPED"),
        ("cdd-cesm", "Low energy images of CDD-CESM"),
        ("mias", "Info.txt"),
        ("chest-xray-pneumonia", "train/ and test/"),
        ("brain-mri-yes-no", "yes/ and no/"),
    ],
)
def test_a_wrong_folder_says_what_was_expected_and_found(tmp_path, layout, expected):
    (tmp_path / "random").mkdir()
    (tmp_path / "random" / "readme.md").write_text("hi")
    with pytest.raises(DataError, match=r"found \['readme.md'\]") as caught:
        create_source(layout, tmp_path / "random")
    assert expected in str(caught.value)
