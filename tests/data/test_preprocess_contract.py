"""What every registered preprocessing op promises: a uint8 image (gray or RGB) becomes a
uint8 image of the shape it declares, the same each time, its input untouched. A new op is
covered by registering it; its Literal settings are tried one value at a time."""

from __future__ import annotations

import inspect
import typing

import cv2
import numpy as np
import pytest

from benchmark.data import list_ops, parse_op, render_phantom
from benchmark.data.preprocess import _OPS, apply_ops, output_shape

# Settings beyond the defaults and Literal choices, where they change the output's shape.
_MORE = {
    "resize": [{"size": 24}, {"size": 40, "mode": "pad"}],
    "pad": [{"size": 60}, {"size": 80, "fill": "mean", "mean": [0.5, 0.4, 0.3]}],
}


def _settings(name: str) -> list[dict]:
    """The op's defaults, then each value of each Literal setting, then ``_MORE``."""
    hints = typing.get_type_hints(_OPS.get(name).apply)
    params = list(inspect.signature(_OPS.get(name).apply).parameters)[1:]
    variants: list[dict] = [{}]
    for param in params:
        if typing.get_origin(hints.get(param)) is typing.Literal:
            variants += [{param: value} for value in typing.get_args(hints[param])]
    return variants + _MORE.get(name, [])


def _images() -> dict[str, np.ndarray]:
    head = render_phantom(2, seed=0, size=48, difficulty=0.3, label="glioma").image
    gray = cv2.copyMakeBorder(head, 6, 10, 4, 20, cv2.BORDER_CONSTANT, value=5)  # 64 × 72
    rgb = np.stack([gray, gray // 2, 255 - gray], axis=-1)
    return {"gray": gray, "rgb": rgb, "black": np.zeros((30, 50), np.uint8)}


_CASES = [
    pytest.param(name, settings, kind, id=f"{name}-{settings or 'defaults'}-{kind}")
    for name in list_ops()
    for settings in _settings(name)
    for kind in _images()
]


@pytest.mark.parametrize(("name", "settings", "kind"), _CASES)
def test_an_op_maps_uint8_to_uint8_of_its_declared_shape(name, settings, kind):
    image = _images()[kind]
    before = image.copy()
    op = parse_op({name: settings})
    out = apply_ops(image, [op])
    assert out.dtype == np.uint8
    channels_in = image.shape[2] if image.ndim == 3 else 1
    height, width, channels = output_shape(op, (*image.shape[:2], channels_in))
    assert out.shape[2:] == (() if channels == 1 else (channels,))  # gray is H × W
    for size, declared in zip(out.shape[:2], (height, width), strict=True):
        assert size in declared if isinstance(declared, range) else size == declared
    assert np.array_equal(apply_ops(image, [op]), out)  # deterministic
    assert np.array_equal(image, before)  # the input is left as it was
