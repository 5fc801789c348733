"""Preprocessing ops: deterministic image → image functions applied once, before training.

An op is written in a suite as a name (``to_rgb``), a name with one value (``{resize: 200}``)
or a name with settings (``{resize: {size: 200, mode: pad}}``). Ops take and return uint8
images, H × W (gray) or H × W × 3 (RGB). An op is one decorated function: its settings are
its keyword arguments; ``shape`` declares its output's shape when it is not the input's (a
contract test holds every op to it). Their results are cached on disk (``cache.py``): bump
``OPS_VERSION`` when an op's output changes.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
from pydantic import TypeAdapter, ValidationError

from benchmark.registry import Registry

__all__ = [
    "OPS_VERSION",
    "Op",
    "Shape",
    "apply_ops",
    "bind_mean",
    "describe_ops",
    "list_ops",
    "output_shape",
    "pad",
    "parse_op",
    "resize",
]

OPS_VERSION = 3  # 3: the lesion masks cached beside the images are resized by nearest neighbour

Op = tuple[str, dict[str, Any]]
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # `pad`'s mean colour when no backbone gives one
# Height, width and channels (1: a gray H × W image, 3: RGB); a range where the content
# decides (a crop).
Shape = tuple[int | range, int | range, int]


def _same(height: int, width: int, channels: int, **settings: Any) -> Shape:
    return height, width, channels


@dataclass(frozen=True)
class _Spec:
    apply: Callable[..., np.ndarray]
    shape: Callable[..., Shape]  # (height, width, channels, **settings) -> output shape


_OPS: Registry[_Spec] = Registry("preprocessing op")


def _register(
    name: str, *, shape: Callable[..., Shape] = _same
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Register the decorated function as op ``name``; ``shape`` declares its output's shape
    (default: the input's)."""

    def decorator(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        _OPS.register(name)(_Spec(fn, shape))
        return fn

    return decorator


def list_ops() -> list[str]:
    return _OPS.names()


def describe_ops() -> list[tuple[str, str]]:
    """``(name, first docstring line + settings)`` of every op."""
    rows = []
    for name, spec in _OPS.items():
        fn = spec.apply
        params = list(inspect.signature(fn).parameters.values())[1:]
        settings = ", ".join(f"{p.name}={p.default!r}" for p in params)
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        rows.append((name, f"{doc} ({settings})" if settings else doc))
    return rows


def parse_op(spec: object) -> Op:
    """Turn a suite entry into ``(name, kwargs)``, checking the name and its arguments (the
    entry is as the user wrote it: anything YAML reads)."""
    if isinstance(spec, str):
        name, args = spec, {}
    elif isinstance(spec, dict) and len(spec) == 1:
        name, value = next(iter(spec.items()))
        fn = _OPS.get(name).apply
        if isinstance(value, dict):
            args = value
        elif value is None:
            args = {}
        else:  # a single value fills the op's first setting
            params = list(inspect.signature(fn).parameters)[1:]
            if not params:
                raise ValueError(f"preprocessing op '{name}' takes no settings, but got {value!r}")
            args = {params[0]: value}
    else:
        raise ValueError(
            "a preprocessing op must be a name (`to_rgb`) or a one-key mapping "
            f"(`{{resize: 200}}`), but got {spec!r}"
        )
    fn = _OPS.get(name).apply
    try:
        inspect.signature(fn).bind(None, **args)
    except TypeError as exc:
        allowed = list(inspect.signature(fn).parameters)[1:]
        raise ValueError(
            f"preprocessing op '{name}' got settings {sorted(args)}: {exc}; "
            f"it accepts {allowed or 'no settings'}"
        ) from None
    hints = typing.get_type_hints(fn)
    checked = {}
    for key, value in args.items():
        try:
            checked[key] = TypeAdapter(hints.get(key, Any)).validate_python(value)
        except ValidationError:
            hint = hints.get(key)
            if typing.get_origin(hint) is Literal:
                expected = f"one of {list(typing.get_args(hint))}"
            else:
                expected = getattr(hint, "__name__", None) or str(hint)
            raise ValueError(
                f"preprocessing op '{name}': `{key}` must be {expected}, but got {value!r}"
            ) from None
    return name, checked


def apply_ops(image: np.ndarray, ops: Sequence[Op]) -> np.ndarray:
    for name, args in ops:
        image = _OPS.get(name).apply(image, **args)
    return image


def output_shape(op: Op, shape: tuple[int, int, int]) -> Shape:
    """The shape that ``op`` declares for its output, given its input's ``(height, width,
    channels)`` (channels 1: a gray H × W image)."""
    name, args = op
    spec = _OPS.get(name)
    bound = inspect.signature(spec.apply).bind(None, **args)
    bound.apply_defaults()
    settings = dict(list(bound.arguments.items())[1:])
    return spec.shape(*shape, **settings)


@_register("grayscale", shape=lambda h, w, c: (h, w, 1))
def grayscale(image: np.ndarray) -> np.ndarray:
    """Convert a colour image to one channel (a grayscale image is left as it is)."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


@_register("to_rgb", shape=lambda h, w, c: (h, w, 3))
def to_rgb(image: np.ndarray) -> np.ndarray:
    """Repeat a grayscale image over three channels."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image


@_register("resize", shape=lambda h, w, c, size, mode: (size, size, c))
def resize(
    image: np.ndarray, *, size: int = 224, mode: Literal["stretch", "pad"] = "stretch"
) -> np.ndarray:
    """Resize to size × size: `stretch` ignores the aspect ratio, `pad` keeps it."""
    h, w = image.shape[:2]
    if mode == "pad" and h != w:
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        image = cv2.copyMakeBorder(
            image, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=0
        )
        h = w = side
    if (h, w) == (size, size):
        return image
    interpolation = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def _pad_shape(height: int, width: int, channels: int, *, size: int, fill: str,
               mean: tuple[float, float, float] | None) -> Shape:  # fmt: skip
    return max(height, size), max(width, size), 3 if fill == "mean" else channels


@_register("pad", shape=_pad_shape)
def pad(
    image: np.ndarray,
    *,
    size: int = 224,
    fill: Literal["zero", "mean"] = "zero",
    mean: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Pad to size × size, centred, without scaling (a side already longer is kept): `zero`
    fills black, `mean` the backbone's mean colour, which normalisation turns into zeros
    (MedMNIST+'s padding); `mean` is the backbone's unless given (0–1 scale)."""
    h, w = image.shape[:2]
    top, left = max(size - h, 0) // 2, max(size - w, 0) // 2
    bottom, right = max(size - h, 0) - top, max(size - w, 0) - left
    if fill == "mean":
        image = to_rgb(image)
        value: Any = [float(round(255 * m)) for m in (mean or IMAGENET_MEAN)]
    else:
        value = 0
    if not (top or bottom or left or right):
        return image
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=value)


def bind_mean(ops: Sequence[Op], mean: Sequence[float]) -> list[Op]:
    """``ops`` with the backbone's normalisation ``mean`` given to each ``pad`` op that fills
    with the mean colour and names none itself: its padding is then zero once normalised."""
    bound = []
    for name, args in ops:
        if name == "pad" and args.get("fill") == "mean" and args.get("mean") is None:
            args = {**args, "mean": tuple(float(m) for m in mean)}
        bound.append((name, args))
    return bound


@_register(
    "crop_brain_contour", shape=lambda h, w, c, **settings: (range(1, h + 1), range(1, w + 1), c)
)
def crop_brain_contour(
    image: np.ndarray, *, threshold: int = 45, blur: int = 5, iterations: int = 2
) -> np.ndarray:
    """Crop to the head: blur, threshold, erode and dilate, largest contour's extreme points."""
    gray = cv2.GaussianBlur(grayscale(image), (blur, blur), 0)
    mask = cv2.threshold(gray, threshold, 255, cv2.THRESH_BINARY)[1]
    square = np.ones((3, 3), np.uint8)  # OpenCV's default kernel, spelt out
    mask = cv2.dilate(cv2.erode(mask, square, iterations=iterations), square, iterations=iterations)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:  # nothing bright enough: keep the image whole
        return image
    points = max(contours, key=cv2.contourArea).reshape(-1, 2)
    left, top = points.min(axis=0)
    right, bottom = points.max(axis=0)
    if right <= left or bottom <= top:
        return image
    return image[top:bottom, left:right]


@_register("bilateral")
def bilateral(
    image: np.ndarray, *, d: int = 9, sigma_color: float = 75.0, sigma_space: float = 75.0
) -> np.ndarray:
    """OpenCV's edge-preserving bilateral filter (denoises, keeps edges)."""
    return cv2.bilateralFilter(image, d, sigma_color, sigma_space)


_COLORMAPS = {
    name.removeprefix("COLORMAP_").lower(): getattr(cv2, name)
    for name in dir(cv2)
    if name.startswith("COLORMAP_")
}
if TYPE_CHECKING:  # the names are OpenCV's, known only when it is loaded
    ColormapName = str
else:
    ColormapName = Literal[tuple(sorted(_COLORMAPS))]


@_register("colormap", shape=lambda h, w, c, name: (h, w, 3))
def colormap(image: np.ndarray, *, name: ColormapName = "bone") -> np.ndarray:
    """Map gray levels through an OpenCV colormap (bone, jet, viridis, …) to RGB."""
    mapped = cv2.applyColorMap(grayscale(image), _COLORMAPS[name])
    return cv2.cvtColor(mapped, cv2.COLOR_BGR2RGB)


@_register("clahe")
def clahe(image: np.ndarray, *, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (on lightness for colour images)."""
    equalise = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles)).apply
    if image.ndim == 2:
        return equalise(image)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[..., 0] = equalise(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


@_register("minmax")
def minmax(image: np.ndarray) -> np.ndarray:
    """Stretch intensities so the image spans 0–255 (per image, all channels together)."""
    lo, hi = int(image.min()), int(image.max())
    if hi == lo:
        return image
    scaled = (image.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.round(scaled).astype(np.uint8)
