"""DICOM files through pydicom (the only importer of pydicom, imported when a file needs it).

A DICOM image becomes uint8 the same way for training and prediction: one frame (the
middle one by default), the modality rescale (slope/intercept or LUT), the VOI window (the
header's own, a fixed ``{center, width}``, or ``auto`` from percentiles of the frame) mapped
linearly to 0–255, and MONOCHROME1 inverted so that bright means dense as in MONOCHROME2.
Colour images (RGB, YBR, palette) are converted to RGB by pydicom and scaled by bit depth.
Nothing but the pixels, and on request the Patient ID, is read out of the header.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from benchmark.data.files import BadImage, max_pixels, scale_deep

__all__ = ["DicomOptions", "Window", "decode_dicom", "patient_id"]


class Window(BaseModel):
    """A fixed VOI window in the modality's units (Hounsfield units for CT)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    center: float
    width: float = Field(gt=0)


class DicomOptions(BaseModel):
    """How DICOM pixels become uint8 (recorded in a trained model's config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: Literal["header", "auto"] | Window = Field(
        "header",
        description="header: the file's VOI window (else auto); auto: from `percentiles`; "
        "or {center, width}",
    )
    percentiles: tuple[float, float] = Field(
        (0.5, 99.5), description="window auto: the low and high percentiles mapped to 0 and 255"
    )
    frame: Literal["middle"] | int = Field(
        "middle", description="which frame of a multi-frame file (0-based, or middle)"
    )

    def key(self) -> str:
        """Names these settings in cache keys."""
        return self.model_dump_json()


def patient_id(path: Path | str) -> str | None:
    """The Patient ID of a DICOM file (only that element is read), or None."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])
    except (InvalidDicomError, OSError, ValueError):
        return None
    value = str(ds.get("PatientID", "") or "").strip()
    return value or None


def decode_dicom(data: bytes, *, options: DicomOptions | None = None) -> tuple[np.ndarray, str]:
    """DICOM file bytes → (uint8 H × W or H × W × 3, mode such as ``DICOM MONOCHROME2``), or
    :class:`BadImage`: a header pydicom chokes on is one unreadable file, never a crash."""
    try:
        return _decode(data, options or DicomOptions())
    except BadImage:
        raise
    except Exception as exc:  # struct.error, KeyError, TypeError, IndexError, ... from odd headers
        raise BadImage(f"unreadable DICOM ({type(exc).__name__}: {exc})") from None


def _decode(data: bytes, options: DicomOptions) -> tuple[np.ndarray, str]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise BadImage(f"not a readable DICOM file: {exc}") from None
    if "PixelData" not in ds:
        kind = getattr(ds.get("SOPClassUID"), "name", "") or "object"
        raise BadImage(f"a DICOM {kind} without pixel data, not an image")
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows * columns > max_pixels():
        raise BadImage(
            f"{columns}×{rows} pixels is over the {max_pixels():,}-pixel limit "
            "(MEDBENCH_MAX_PIXELS raises the limit)"
        )
    frames = int(ds.get("NumberOfFrames") or 1)
    index = frames // 2 if options.frame == "middle" else options.frame
    if not 0 <= index < frames:
        raise BadImage(
            f"dicom.frame is {index}, but the file has {frames} frame(s) (0 to {frames - 1}); "
            "set `dicom.frame` to one of them or to middle"
        )
    array = _frame(ds, index if frames > 1 else None)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        array = apply_color_lut(array, ds)
    if array.ndim == 3:  # RGB (pydicom converts YBR to RGB) or a palette's colours
        return (array if array.dtype == np.uint8 else scale_deep(array)), "DICOM RGB"
    return _windowed(array, ds, options, inverted=photometric == "MONOCHROME1"), (
        f"DICOM {photometric}"
    )


def _frame(ds, index: int | None) -> np.ndarray:
    """The pixels of one frame; a transfer syntax without a working decoder names the
    packages that add one."""
    from pydicom.pixels import get_decoder, pixel_array

    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    try:
        return pixel_array(ds, index=index)
    except (RuntimeError, NotImplementedError, ValueError, AttributeError, KeyError) as exc:
        reason = str(exc).splitlines()[0].rstrip(":")
        if syntax is None:
            raise BadImage(f"DICOM pixel data cannot be decoded: {reason}") from None
        try:
            packages = get_decoder(syntax).missing_dependencies
        except NotImplementedError:
            packages = []
        name = getattr(syntax, "name", str(syntax))
        needs = [package.split(" - requires ", 1)[-1] for package in packages]
        fix = f"; install a decoder, one of: {'; or '.join(needs)}" if needs else ""
        raise BadImage(f"cannot decode {name} pixel data here ({reason}){fix}") from None


def _windowed(array: np.ndarray, ds, options: DicomOptions, *, inverted: bool) -> np.ndarray:
    """Modality rescale, then the VOI window mapped to 0–255 (DICOM's linear function)."""
    from pydicom.pixels import apply_modality_lut

    values = np.asarray(apply_modality_lut(array, ds), dtype=np.float32)
    window = options.window
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if window == "header" and center is not None and width is not None:
        window = Window(center=center, width=max(width, 1.0))
    if isinstance(window, Window):
        if str(ds.get("VOILUTFunction", "LINEAR")).upper() == "SIGMOID":
            scaled = 1 / (1 + np.exp(-4 * (values - window.center) / window.width))
        else:  # PS3.3 C.11.2.1.2.1: x ≤ c - 0.5 - (w - 1)/2 → 0, above c - 0.5 + (w - 1)/2 → 1
            low = window.center - 0.5 - (window.width - 1) / 2
            scaled = (values - low) / max(window.width - 1, 1e-6)
    elif window == "header" and "VOILUTSequence" in ds:
        from pydicom.pixels import apply_voi_lut

        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        stored = np.rint(values).astype(np.int64)  # a LUT is indexed by whole values
        scaled = np.asarray(apply_voi_lut(stored, ds), np.float32) / (2**bits - 1)
    else:  # auto, or a header without a (usable) window
        low, high = np.percentile(values, options.percentiles)
        scaled = (values - low) / max(float(high - low), 1e-6)
    out = np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8)
    return 255 - out if inverted else out


def _first(element) -> float | None:
    """The first value of a multi-valued element (several windows: the first is the
    default); ``None`` for an absent, empty or non-numeric one (anonymisers blank them)."""
    value = getattr(element, "value", element)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def write_dicom(path: Path, image: np.ndarray, *, patient: str, instance: int) -> None:
    """Write a uint8 grayscale image as a 12-bit MONOCHROME2 MR slice (uncompressed, with
    a window that maps it back to 0–255), for synthetic DICOM trees."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    if image.ndim != 2:
        raise ValueError(f"expected a grayscale H × W image, but got shape {image.shape}")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[patient, str(instance)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[patient, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[patient, "series"])
    ds.Modality, ds.PatientID, ds.InstanceNumber = "MR", patient, instance
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = (image.astype(np.uint16) * 16 + 8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
