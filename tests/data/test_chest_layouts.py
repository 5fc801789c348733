"""The multi-label chest X-ray layouts (NIH ChestX-ray14, CheXpert) read from fake trees with
the real names and quirks, and what every multi-label source promises."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pydantic import ValidationError

from benchmark.data import assign_splits, create_source, get_layout, load_images, write_synthetic
from benchmark.data.layouts import Box
from benchmark.data.layouts._labels import box_mask
from benchmark.data.layouts.chexpert import CHEXPERT_OBSERVATIONS
from benchmark.data.layouts.nih import NIH_FINDINGS
from benchmark.errors import DataError


def _write(tmp_path, layout, per_class=3):
    root = tmp_path / layout
    write_synthetic(root, layout=layout, per_class=per_class, size=48, seed=1)
    return root


def _source(root, layout, **options):
    return create_source(layout, root, options=get_layout(layout).options(**options))


def _row(source, name):
    return int(np.flatnonzero(source.records["id"].str.endswith(name))[0])


# --- NIH ChestX-ray14 -------------------------------------------------------------------


def test_nih_reads_the_kaggle_copy_with_its_labels_patients_and_official_split(tmp_path):
    root = _write(tmp_path, "nih-chestxray14")
    source = create_source("nih-chestxray14", root)
    assert source.multilabel and source.classes == list(NIH_FINDINGS)
    entries = pd.read_csv(root / "Data_Entry_2017.csv", dtype=str, index_col=False)
    assert "Unnamed: 11" in entries.columns  # the trailing comma of every line
    by_name = dict(zip(entries["Image Index"], entries["Finding Labels"], strict=True))
    for i in range(len(source)):
        name = source.records["id"].iat[i].rsplit("/", 1)[1]
        expected = {f for f in by_name[name].split("|") if f != "No Finding"}
        assert {c for c, t in zip(source.classes, source.targets[i], strict=True) if t} == expected
    assert source.records["id"].str.match(r"images_0(0[1-9]|1[0-2])/images/").all()
    assert not np.isnan(source.targets).any()
    # Patients are the groups; the official split is kept: test_list → test, the rest "".
    assert source.records["group"].iat[0] == "patient00001"
    test = set((root / "test_list.txt").read_text().split())
    names = source.records["id"].str.rsplit("/", n=1).str[1]
    assert (source.records["split"] == np.where(names.isin(test), "test", "")).all()
    split = assign_splits(
        source.records, val_fraction=0.2, test_fraction=0.2, stratify=False, seed=0,
        groups=source.records["group"],
    )  # fmt: skip
    assert (split[source.records["split"] == "test"] == "test").all()  # the test split stays
    assert set(split[source.records["split"] == ""]) == {"train", "val"}  # val from the pool
    assert source.records.assign(split=split).groupby("group")["split"].nunique().max() == 1


def test_nih_a_listed_image_absent_on_disk_is_noted_and_the_others_go_on(tmp_path):
    root = _write(tmp_path, "nih-chestxray14")
    victim = next(root.glob("images_003/images/*.png"))
    victim.unlink()
    source = create_source("nih-chestxray14", root)
    note = next(n for n in source.notes if "not on disk" in n)
    assert note.startswith("2 image(s) listed in Data_Entry_2017.csv") and victim.name in note
    assert len(source) == 3 * 15 - 1


def test_nih_the_v2020_label_file_and_one_images_folder(tmp_path):
    root = _write(tmp_path, "nih-chestxray14")
    before = create_source("nih-chestxray14", root)
    entries = root / "Data_Entry_2017.csv"
    lines = [line.removesuffix(",") for line in entries.read_text().splitlines()]
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join(lines) + "\n")
    entries.unlink()
    (root / "images").mkdir()
    for path in root.glob("images_*/images/*.png"):
        path.rename(root / "images" / path.name)
    for folder in root.glob("images_*"):
        shutil.rmtree(folder)
    after = create_source("nih-chestxray14", root)
    assert after.records["id"].str.startswith("images/").all()
    assert after.counts() == before.counts()
    order = np.argsort(after.records["id"].str.rsplit("/", n=1).str[1].to_numpy())
    again = np.argsort(before.records["id"].str.rsplit("/", n=1).str[1].to_numpy())
    assert np.array_equal(after.targets[order], before.targets[again])


def test_nih_rgba_pngs_are_read_as_grey_like_the_others(tmp_path):
    root = _write(tmp_path, "nih-chestxray14")
    source = create_source("nih-chestxray14", root)
    modes = [Image.open(path).mode for path in source.records["path"]]
    assert 0 < modes.count("RGBA") < len(modes) / 4 and set(modes) == {"L", "RGBA"}
    image, _ = source.read(modes.index("RGBA"))
    assert image.ndim == 2 and image.dtype == np.uint8
    images = load_images(source, ops=[], size=32, workers=1)
    assert images.images.shape[1] == 1  # one RGBA file does not make the dataset colour
    assert images.labels.dtype.is_floating_point and images.labels.shape == (len(source), 14)


def test_nih_views_findings_and_renames(tmp_path):
    root = _write(tmp_path, "nih-chestxray14")
    entries = pd.read_csv(root / "Data_Entry_2017.csv", dtype=str, index_col=False)
    pa = create_source("nih-chestxray14", root, options=get_layout("nih-chestxray14").options(
        views=["pa"]))  # fmt: skip
    names = set(pa.records["id"].str.rsplit("/", n=1).str[1])
    assert names == set(entries["Image Index"][entries["View Position"] == "PA"]) - {
        entries["Image Index"].iat[-1]  # the absent one
    }
    assert any("other views than ['PA']" in n for n in pa.notes)
    full = create_source("nih-chestxray14", root)
    two = _source(root, "nih-chestxray14", findings=["Nodule", "Mass"])
    assert two.classes == ["Mass", "Nodule"]  # the dataset's order
    assert np.array_equal(two.targets, full.targets[:, [4, 5]])
    assert set(two.records["label"]) == {"", "Mass", "Nodule"}
    merged = _source(root, "nih-chestxray14", findings=["Mass", "Nodule"],
                     labels={"Mass": "Nodule/Mass", "Nodule": "Nodule/Mass"})  # fmt: skip
    assert merged.classes == ["Nodule/Mass"]
    assert np.array_equal(merged.targets[:, 0], two.targets.max(axis=1))
    with pytest.raises(ValidationError, match="unknown"):
        get_layout("nih-chestxray14").options(findings=["Pneumonitis"])
    with pytest.raises(ValidationError, match="unknown views"):
        get_layout("nih-chestxray14").options(views=["LL"])


def test_nih_boxes_become_masks_where_the_lesion_is(tmp_path):
    root = tmp_path / "nih"
    write_synthetic(root, layout="nih-chestxray14", per_class=5, size=64, difficulty=0.0)
    header = (root / "BBox_List_2017.csv").read_text().splitlines()[0]
    assert header == "Image Index,Finding Label,Bbox [x,y,w,h],,,"
    boxes = pd.read_csv(root / "BBox_List_2017.csv")
    assert list(boxes.columns[2:6]) == ["Bbox [x", "y", "w", "h]"]
    assert "Infiltrate" in set(boxes["Finding Label"])  # the box list's own spelling
    source = create_source("nih-chestxray14", root)
    row = boxes.iloc[0]
    i = _row(source, row["Image Index"])
    image, mask = source.read(i)
    scale = image.shape[1] / 1024
    x0, y0 = int(row["Bbox [x"] * scale), int(row["y"] * scale)
    x1, y1 = int((row["Bbox [x"] + row["w"]) * scale), int((row["y"] + row["h]"]) * scale)
    assert mask.shape == image.shape and mask[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].all()
    assert mask.sum() <= (x1 - x0 + 2) * (y1 - y0 + 2)
    assert (image[mask] > 80).mean() > 0.3  # the finding's bright patch lies in its box
    unboxed = int(np.flatnonzero(source.records["split"] == "")[0])  # boxes: test images
    assert source.read(unboxed)[1] is None
    images = load_images(source, ops=[], size=24, workers=1)
    assert images.masks is not None and images.masks[i].any() and not images.masks[unboxed].any()
    without = _source(root, "nih-chestxray14", boxes=False)
    assert without.read(i)[1] is None
    kept = _source(root, "nih-chestxray14", findings=["Hernia"])  # boxes of other findings go
    assert kept.read(i)[1] is None


def test_nih_box_rows_with_trailing_commas_and_a_missing_box_column(tmp_path):
    root = _write(tmp_path, "nih-chestxray14")
    name = "00000001_000.png"  # Atelectasis
    (root / "BBox_List_2017.csv").write_text(
        "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
        f"{name},Atelectasis,0,512,512,512,,,\n"
        f"{name},Atelectasis,not,a,box\n"
    )
    source = create_source("nih-chestxray14", root)
    image, mask = source.read(_row(source, name))
    half = image.shape[0] // 2
    assert mask[half:, :half].all() and not mask[:half].any() and not mask[:, half:].any()
    assert any("1 row(s) of BBox_List_2017.csv" in n for n in source.notes)
    (root / "BBox_List_2017.csv").write_text("Image Index,Label,x,y,w,h\n")
    with pytest.raises(
        DataError, match=r"BBox_List_2017.csv: missing column\(s\) \['Finding Label'\]"
    ):
        create_source("nih-chestxray14", root)


def test_nih_a_missing_column_or_an_unknown_finding_is_one_line(tmp_path):
    root = _write(tmp_path, "nih-chestxray14")
    entries = root / "Data_Entry_2017.csv"
    table = pd.read_csv(entries, dtype=str, keep_default_na=False, index_col=False)
    table.drop(columns=["Patient ID"]).to_csv(entries, index=False)
    with pytest.raises(DataError, match=r"missing column\(s\) \['Patient ID'\]") as caught:
        create_source("nih-chestxray14", root)
    assert str(entries) in str(caught.value) and "\n" not in str(caught.value)
    table.loc[0, "Finding Labels"] = "Cardiomegaly|Pneumonitis"
    table.to_csv(entries, index=False)
    with pytest.raises(DataError, match=r"unknown finding\(s\) \['Pneumonitis'\]"):
        create_source("nih-chestxray14", root)
    table.loc[0, "Finding Labels"] = "Cardiomegaly"
    table.drop(columns=["View Position"]).to_csv(entries, index=False)
    assert len(create_source("nih-chestxray14", root)) == 45  # not needed for every view
    with pytest.raises(DataError, match=r"\['View Position'\]"):
        _source(root, "nih-chestxray14", views=["PA"])


# --- CheXpert ---------------------------------------------------------------------------


def test_chexpert_observations_under_the_default_policies(tmp_path):
    root = _write(tmp_path, "chexpert")
    source = create_source("chexpert", root)
    assert source.classes == list(CHEXPERT_OBSERVATIONS)
    train = pd.read_csv(root / "CheXpert-v1.0-small/train.csv", dtype=str, keep_default_na=False)
    row = train[train["Frontal/Lateral"] == "Frontal"].iloc[0]
    i = _row(source, row["Path"])
    assert source.records["id"].iat[i] == row["Path"]  # relative to the folder above
    for j, name in enumerate(CHEXPERT_OBSERVATIONS):
        value, target = row[name], source.targets[i, j]
        assert {"1.0": target == 1, "0.0": target == 0, "": target == 0}.get(
            value, np.isnan(target)
        ), (name, value, target)
    assert (train[list(CHEXPERT_OBSERVATIONS)] == "-1.0").any().any()
    assert np.isnan(source.targets).any()  # uncertain: ignored (missing)
    # Frontal views only, patients from the path, valid.csv as the test split.
    assert source.records["id"].str.endswith("_frontal.jpg").all()
    assert any("other views than frontal" in n for n in source.notes)
    assert (source.records["group"] == source.records["id"].str.extract(r"(patient\d+)")[0]).all()
    valid = source.records["id"].str.contains("/valid/")
    assert (source.records["split"] == np.where(valid, "test", "")).all()
    assert any("listed in train.csv not on disk" in n for n in source.notes)


@pytest.mark.parametrize(
    ("uncertain", "blank", "for_uncertain", "for_blank"),
    [("zeros", "negative", 0.0, 0.0), ("ones", "missing", 1.0, np.nan),
     ("ignore", "missing", np.nan, np.nan)],
)  # fmt: skip
def test_chexpert_uncertain_and_blank_policies(
    tmp_path, uncertain, blank, for_uncertain, for_blank
):
    root = _write(tmp_path, "chexpert")
    train = pd.read_csv(root / "CheXpert-v1.0-small/train.csv", dtype=str, keep_default_na=False)
    source = _source(root, "chexpert", uncertain=uncertain, blank=blank, views="all")
    values = train.set_index("Path").loc[source.records["id"][source.records["split"] == ""]]
    targets = source.targets[(source.records["split"] == "").to_numpy()]
    cells = values[list(CHEXPERT_OBSERVATIONS)].to_numpy()
    np.testing.assert_array_equal(targets[cells == "-1.0"], for_uncertain)
    np.testing.assert_array_equal(targets[cells == ""], for_blank)
    np.testing.assert_array_equal(targets[cells == "1.0"], 1.0)


def test_chexpert_root_at_either_level_and_the_full_size_folder(tmp_path):
    root = _write(tmp_path, "chexpert")
    above = create_source("chexpert", root)
    inside = create_source("chexpert", root / "CheXpert-v1.0-small")
    assert inside.records["id"].str.startswith("train/").any()
    assert list("CheXpert-v1.0-small/" + inside.records["id"]) == list(above.records["id"])
    np.testing.assert_array_equal(inside.targets, above.targets)
    full = root / "CheXpert-v1.0"
    (root / "CheXpert-v1.0-small").rename(full)
    for file in ("train.csv", "valid.csv"):
        text = (full / file).read_text().replace("CheXpert-v1.0-small/", "CheXpert-v1.0/")
        (full / file).write_text(text)
    again = create_source("chexpert", root)
    assert again.records["id"].str.startswith("CheXpert-v1.0/").all()
    assert again.counts() == above.counts()


def test_chexpert_views_and_the_competition_five(tmp_path):
    root = _write(tmp_path, "chexpert")
    frontal = create_source("chexpert", root)
    lateral = _source(root, "chexpert", views="lateral")
    both = _source(root, "chexpert", views="all")
    assert lateral.records["id"].str.endswith("_lateral.jpg").all() and len(lateral)
    assert len(both) == len(frontal) + len(lateral)
    five = _source(root, "chexpert", findings="competition")
    assert five.classes == ["Cardiomegaly", "Edema", "Consolidation", "Atelectasis",
                            "Pleural Effusion"]  # fmt: skip
    columns = [CHEXPERT_OBSERVATIONS.index(c) for c in five.classes]
    np.testing.assert_array_equal(five.targets, frontal.targets[:, columns])
    with pytest.raises(ValidationError, match="unknown"):
        get_layout("chexpert").options(findings=["Effusion"])


def test_chexpert_a_missing_column_or_a_bad_value_names_it_and_its_file(tmp_path):
    root = _write(tmp_path, "chexpert")
    valid = root / "CheXpert-v1.0-small/valid.csv"
    table = pd.read_csv(valid, dtype=str, keep_default_na=False)
    table.drop(columns=["Edema"]).to_csv(valid, index=False)
    with pytest.raises(DataError, match=r"missing column\(s\) \['Edema'\]") as caught:
        create_source("chexpert", root)
    assert str(valid) in str(caught.value) and "\n" not in str(caught.value)
    assert len(_source(root, "chexpert", findings=["Cardiomegaly"]))  # Edema not needed
    table.loc[1, "Cardiomegaly"] = "2.0"
    table.to_csv(valid, index=False)
    with pytest.raises(DataError, match=r"valid.csv: values .*column 'Cardiomegaly' row 3: '2.0'"):
        create_source("chexpert", root)


# --- csv manifests and multi-label sources ----------------------------------------------


def _manifest(tmp_path, rows: list[dict]):
    root = tmp_path / "csv"
    write_synthetic(root, layout="csv", per_class=2, size=32)
    images = sorted((root / "images").iterdir())
    table = pd.DataFrame(
        [{"path": f"images/{images[i].name}", **row} for i, row in enumerate(rows)]
    )
    table.to_csv(root / "manifest.csv", index=False)
    return root


def test_csv_label_columns_with_uncertain_and_blank_values(tmp_path):
    root = _manifest(tmp_path, [{"Effusion": "1", "Mass": "-1.0"}, {"Effusion": "", "Mass": "0"},
                                {"Effusion": "0.0", "Mass": "1.0"}])  # fmt: skip
    source = _source(root, "csv", label_columns=["Effusion", "Mass"])
    assert source.classes == ["Effusion", "Mass"]
    np.testing.assert_array_equal(source.targets, [[1, np.nan], [0, 0], [0, 1]])
    assert list(source.records["label"]) == ["Effusion", "", "Mass"]
    ones = _source(
        root, "csv", label_columns=["effusion", "mass"], uncertain="ones", blank="missing"
    )
    np.testing.assert_array_equal(ones.targets, [[1, 1], [np.nan, 0], [0, 1]])
    with pytest.raises(DataError, match=r"manifest.csv: missing column\(s\) \['edema'\]"):
        _source(root, "csv", label_columns=["Effusion", "Edema"])
    table = pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)
    table.loc[1, "Mass"] = "yes"
    table.to_csv(root / "manifest.csv", index=False)
    with pytest.raises(DataError, match=r"column 'mass' row 3: 'yes' \(expected 1, 0, -1"):
        _source(root, "csv", label_columns=["Effusion", "Mass"])
    with pytest.raises(ValidationError, match="not both"):
        get_layout("csv").options(label_columns=["a"], label_separator="|")


def test_csv_options_dump_only_the_multilabel_settings_in_use():
    options = get_layout("csv").options
    assert set(options().model_dump()) == {"labels", "group", "dicom", "manifest"}  # as before
    assert "label_separator" in options(label_separator="|").model_dump()
    dumped = options(label_columns=["A"], uncertain="ones").model_dump()
    assert options.model_validate(dumped) == options(label_columns=["A"], uncertain="ones")
    with pytest.raises(ValidationError, match="apply to `label_columns`"):
        options(uncertain="ones")


def test_csv_label_separator(tmp_path):
    root = _manifest(tmp_path, [{"label": "Mass|Effusion"}, {"label": ""}, {"label": " Mass "}])
    source = _source(root, "csv", label_separator="|")
    assert source.classes == ["Effusion", "Mass"]
    np.testing.assert_array_equal(source.targets, [[1, 1], [0, 0], [0, 1]])
    assert source.counts() == {"all": {"Effusion": 1, "Mass": 2}}
    assert source.subset(np.array([False, True, True])).targets.tolist() == [[0, 0], [0, 1]]


def test_box_masks_scale_from_their_frame_and_cover_what_they_touch():
    mask = box_mask([Box(256, 512, 256, 100, "Mass", (1024, 1024))], (64, 64))
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert (cols[0], cols[-1], rows[0], rows[-1]) == (16, 31, 32, 38)
    assert box_mask([Box(-5, -5, 3, 3)], (8, 8)).sum() == 1  # clipped, one pixel at least
    assert not box_mask([], (8, 8)).any()


def test_a_multilabel_dataset_is_indexed_and_audited_per_label(tmp_path):
    from benchmark.data import index_dataset
    from benchmark.suite._schema import AuditConfig, DatasetConfig

    root = _write(tmp_path, "chexpert", per_class=4)
    config = DatasetConfig(
        layout="chexpert", root=root, split={"stratify": False}, task="multilabel"
    )
    indexed = index_dataset("cx", config, seed=0, policy=AuditConfig())
    source = indexed.source
    assert set(indexed.split) == {"train", "val", "test"}
    assert indexed.report.test_leaks == []  # patients stay in one split
    present = source.targets == 1
    for split, per in indexed.report.splits.items():
        rows = (indexed.split == split).to_numpy()
        assert list(per) == source.classes
        assert list(per.values()) == present[rows].sum(axis=0).tolist()
