"""What every registered layout promises: its writer's tree reads back as the counts the
writer reported, and its source is well formed. A new layout is covered by registering it."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data import create_source, list_layouts, scan, write_synthetic
from benchmark.data.layouts import SPLIT_NAMES, Source

_ROUND_TRIPS = [
    pytest.param(layout.name, fmt, id=f"{layout.name}-{fmt or 'own'}")
    for layout in list_layouts()
    if layout.writer is not None
    for fmt in (None, *layout.formats)
]
_IN_MEMORY = [layout.name for layout in list_layouts() if layout.writer is None]


def _check_well_formed(source: Source) -> None:
    records = source.records
    assert records["id"].is_unique and len(source) > 0
    assert set(records["split"]) <= {"", *SPLIT_NAMES.values()}
    assert records["group"].astype(bool).all()  # every image in a group (its own at least)
    if source.multilabel:  # targets N × L over the labels; the label column summarises them
        assert source.targets.dtype == np.float32
        assert source.targets.shape == (len(source), len(source.classes))
        assert len(set(source.classes)) == len(source.classes)
        present = [{c for c, t in zip(source.classes, row, strict=True) if t == 1} for row in
                   source.targets]  # fmt: skip
        assert [set(filter(None, label.split("|"))) for label in records["label"]] == present
    else:
        assert source.classes == sorted(records["label"].unique())


def _check_readable(source: Source) -> None:
    for i in (0, len(source) - 1):
        image, mask = source.read(i)
        assert image.dtype == np.uint8 and image.ndim in (2, 3)
        assert mask is None or mask.shape == image.shape[:2]


@pytest.mark.parametrize(("layout", "fmt"), _ROUND_TRIPS)
def test_the_reader_finds_what_the_writer_wrote(tmp_path, layout, fmt):
    seen: list[tuple[int, int]] = []
    root = tmp_path / layout
    counts = write_synthetic(
        root, layout=layout, per_class=4, size=32, seed=1, format=fmt,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert seen and seen[-1][0] == seen[-1][1]  # the progress bar ends full
    source = create_source(layout, root)
    assert source.counts() == counts
    _check_well_formed(source)
    facts = scan(source)
    assert facts["error"].isna().all(), facts["error"].dropna().tolist()
    _check_readable(source)


@pytest.mark.parametrize("layout", _IN_MEMORY)
def test_a_layout_without_a_writer_renders_the_same_images_again(layout):
    spec = next(item for item in list_layouts() if item.name == layout)
    assert not spec.needs_root, f"{layout} reads a folder: register the writer of a fake tree"
    source = create_source(layout, None)
    _check_well_formed(source)
    _check_readable(source)
    # The cache keys rendered images by the generator's settings: rendering must repeat.
    assert source.render is not None and source.fingerprint
    again = create_source(layout, None)
    for i in (0, len(source) - 1):
        assert source.content(i) == again.content(i)
        assert np.array_equal(source.read(i)[0], again.read(i)[0])
    assert source.content(0) != source.content(len(source) - 1)
