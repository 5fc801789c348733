"""Fetching the seed datasets: resumable, checked downloads (:func:`download`), safe
unpacking (:func:`unpack`), the catalogue of fetchable datasets (:data:`CATALOGUE`), the
fetch itself with its provenance file (:func:`fetch`) and what a run records about its
data (:func:`about`). Light at import: requests, kagglehub and the layouts load on use."""

from __future__ import annotations

from benchmark.data.fetch._catalogue import CATALOGUE, Entry, File, entry
from benchmark.data.fetch._download import PART_SUFFIX, download
from benchmark.data.fetch._fetch import (
    PROVENANCE,
    about,
    content_digest,
    default_root,
    fetch,
    read_provenance,
)
from benchmark.data.fetch._unpack import MAX_BYTES, MAX_FILES, extract, staging, unpack

__all__ = [
    "CATALOGUE",
    "MAX_BYTES",
    "MAX_FILES",
    "PART_SUFFIX",
    "PROVENANCE",
    "Entry",
    "File",
    "about",
    "content_digest",
    "default_root",
    "download",
    "entry",
    "extract",
    "fetch",
    "read_provenance",
    "staging",
    "unpack",
]
