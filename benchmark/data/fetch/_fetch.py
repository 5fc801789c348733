"""``medbench data fetch``: a catalogued dataset downloaded and unpacked where its layout
expects it, its checksums checked, the tree's content digest recorded in the provenance
file ``ROOT/.medbench-source.json`` (written last), and what a run records about it
(:func:`about`)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmark.data.fetch._catalogue import Entry, entry
from benchmark.data.fetch._download import download, file_digest
from benchmark.data.fetch._unpack import MAX_BYTES, MAX_FILES, current_umask, extract, staging
from benchmark.errors import DataError

__all__ = ["PROVENANCE", "about", "content_digest", "default_root", "fetch", "read_provenance"]

PROVENANCE = ".medbench-source.json"
Say = Callable[[str], None]


def default_root(name: str) -> Path:
    """``<MEDBENCH_DATA>/<layout>``, where the seed suites read each dataset."""
    from benchmark.settings import settings

    return settings().data / name


def fetch(
    name: str,
    *,
    flag: str | None = None,
    size: int = 28,
    root: Path | None = None,
    archive: Path | None = None,
    progress: bool = True,
    say: Say = lambda text: None,
) -> dict[str, Any]:
    """Fetch catalogue entry ``name`` into ``root`` (default :func:`default_root`); returns
    the provenance recorded. ``flag`` and ``size`` choose a MedMNIST file; ``archive`` is a
    local copy of what would be downloaded (required where the source offers no plain
    download). A root already fetched is kept as it is. Two fetches into one root wait for
    each other (a lock file in the cache folder, none in the data's)."""
    from filelock import FileLock

    from benchmark.settings import cache_home

    root = Path(root) if root is not None else default_root(name)
    root.parent.mkdir(parents=True, exist_ok=True)
    locks = (cache_home() or Path(tempfile.gettempdir()) / "medbench") / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    with FileLock(str(locks / f"fetch-{key}.lock")):
        return _fetch(name, flag, size, root, archive, progress=progress, say=say)


def _fetch(name: str, flag: str | None, size: int, root: Path, archive: Path | None, *,
           progress: bool, say: Say) -> dict[str, Any]:  # fmt: skip
    item = entry(name)
    if name == "medmnist" and archive is not None:
        raise DataError(
            "medmnist takes no --archive: set MEDBENCH_MEDMNIST_MIRROR to the folder's "
            "file:// URL (or a server) holding its .npz files."
        )
    if name == "medmnist":
        return _fetch_medmnist(item, flag, size, root, progress=progress, say=say)
    if flag is not None or size != 28:
        given = "a FLAG" if flag is not None else "--size"
        raise DataError(f"{given} is given for '{name}'; only medmnist takes one.")
    if (root / PROVENANCE).is_file():
        say(f"{root} holds {name} already (fetched before); remove it to fetch again.")
        return read_provenance(root)
    if root.exists() and any(root.iterdir()):
        raise DataError(
            f"{root} exists and is not empty, but holds no {PROVENANCE}: move it away, or "
            "fetch into another folder with --root."
        )
    if root.exists():
        root.rmdir()  # an empty folder: replaced by the fetched one
    if item.manual and archive is None:
        raise DataError(
            f"{name}: {item.source}. Download {item.manual}, then run `medbench data fetch "
            f"{name} --archive FILE`."
        )
    downloads = root.with_name(f".{root.name}.downloads")
    record: dict[str, Any] = {"files": {}}
    with staging(root) as folder:
        if archive is not None:  # a local copy (or, for a manual entry, the images)
            extract(archive, folder)
            record["files"][Path(archive).name] = {"sha256": file_digest(Path(archive))}
        elif item.kaggle:
            _copy_tree(_kaggle(item.kaggle), folder)
            record["kaggle"] = item.kaggle
        for f in item.files if archive is None or item.manual else ():
            saved = downloads / f.name  # complete when present: it was renamed there
            if f.md5 or f.sha256 or not saved.is_file():
                download(f.url, saved, md5=f.md5, sha256=f.sha256, progress=progress)
            checks = {"md5": f.md5} if f.md5 else {}
            record["files"][f.name] = {"url": f.url, **checks, "sha256": file_digest(saved)}
            target = folder / f.into
            target.mkdir(parents=True, exist_ok=True)
            if f.archive:
                extract(saved, target)
            else:
                shutil.copyfile(saved, target / f.name)
        _check_layout(name, folder, say)
        provenance = _provenance(item, record, content_digest(folder))
        _write_json(folder / PROVENANCE, provenance)  # last: its presence means complete
    shutil.rmtree(downloads, ignore_errors=True)
    return provenance


def _fetch_medmnist(
    item: Entry, flag: str | None, size: int, root: Path, *, progress: bool, say: Say
) -> dict[str, Any]:
    from benchmark.data import medmnist

    if flag is None:
        raise DataError(
            "medmnist needs a FLAG: `medbench data fetch medmnist FLAG [--size N]`; the flags "
            f"are {', '.join(medmnist.flags())}."
        )
    url, md5 = medmnist.url_and_md5(flag, size)
    file_name = medmnist.file_name(flag, size)
    url = _mirrored(url, file_name)
    download(url, root / file_name, md5=md5, progress=progress)
    licence, commercial = medmnist.licence(flag)
    facts = {
        "flag": flag,
        "size": size,
        "url": url,
        "md5": md5,
        "licence": licence,
        "commercial": commercial,
        "fetched": _now(),
    }
    path = root / PROVENANCE
    provenance = read_provenance(root) if path.is_file() else {}
    if not provenance:
        provenance = _provenance(item, {"files": {}}, None)
        provenance["citation"] = medmnist.CITATION
    provenance.setdefault("files", {})[file_name] = facts
    provenance["fetched"] = facts["fetched"]
    _write_json(path, provenance)
    nc = "https://creativecommons.org/licenses/by-nc/4.0/"
    return provenance | {"licence": licence, "commercial": facts["commercial"], "file": file_name,
                         "licence_url": item.licence_url if commercial else nc}  # fmt: skip


def _mirrored(url: str, file_name: str) -> str:
    """``url``, or the same file under ``MEDBENCH_MEDMNIST_MIRROR`` when it is set."""
    from benchmark.settings import settings

    mirror = getattr(settings(), "medmnist_mirror", None)
    return f"{mirror.rstrip('/')}/{file_name}" if mirror else url


def _kaggle(handle: str) -> Path:
    """The unpacked Kaggle dataset ``handle`` (in kagglehub's cache); missing or refused
    credentials are one line saying how to set them."""
    import kagglehub

    try:
        return Path(kagglehub.dataset_download(handle))
    except Exception as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        kind = type(exc).__name__
        if status in (401, 403) or kind in ("CredentialError", "UnauthenticatedError"):
            raise DataError(
                f"Kaggle refused the download of {handle} ({kind}): set KAGGLE_USERNAME and "
                "KAGGLE_KEY (kaggle.com → Settings → API → Create New Token), or save that "
                "token as ~/.kaggle/kaggle.json, accept the dataset's terms on its page, and "
                "run again."
            ) from None
        raise DataError(f"the Kaggle download of {handle} failed ({kind}: {exc}).") from None


def _copy_tree(source: Path, folder: Path) -> None:
    """``source``'s files copied under ``folder``: no links, the unpacking limits kept."""
    count, total = 0, 0
    for path in sorted(source.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise DataError(f"{path} is a symbolic link; the download is refused.")
        count += 1
        target = folder / path.relative_to(source)
        if stat.S_ISDIR(mode):
            target.mkdir(parents=True, exist_ok=True)
            continue
        total += path.stat().st_size
        if count > MAX_FILES or total > MAX_BYTES:
            raise DataError(f"{source} is larger than the unpacking limits; refused.")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _check_layout(name: str, folder: Path, say: Say) -> None:
    """Whether the layout's reader accepts what was fetched (said, not enforced: the files
    are kept either way)."""
    from benchmark.data.layouts import LAYOUTS, create_source

    if name not in LAYOUTS:
        return
    try:
        source = create_source(name, folder)
    except DataError as exc:
        say(f"warning: the {name} reader does not accept the download: {exc}")
        return
    say(f"{len(source)} images found by the {name} layout.")


def content_digest(folder: Path) -> str:
    """``sha256:`` of the sorted relative paths and each file's SHA-256 (the provenance
    file left out): two copies of a dataset have the same digest exactly when they hold
    the same files."""
    lines = []
    for path in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
        relative = path.relative_to(folder).as_posix()
        if relative == PROVENANCE or not path.is_file() or path.is_symlink():
            continue
        lines.append(f"{file_digest(path)}  {relative}\n")
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def _provenance(item: Entry, record: dict[str, Any], digest: str | None) -> dict[str, Any]:
    out = {
        "name": item.name,
        "title": item.title,
        "source": item.source,
        "homepage": item.homepage,
        "licence": item.licence,
        "licence_url": item.licence_url,
        "citation": item.citation,
        "commercial": item.commercial,
        **record,
        "fetched": _now(),
    }
    if digest is not None:
        out["digest"] = digest
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, path)


def read_provenance(root: Path) -> dict[str, Any]:
    """The provenance file of ``root`` (``{}`` when there is none or it is unreadable)."""
    try:
        return json.loads((Path(root) / PROVENANCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def about(layout: str, root: Path | str | None, options: Any = None) -> dict[str, str]:
    """What a run records about its data: ``licence``, ``commercial`` (``yes``, ``no`` or
    ``unknown``), ``source``, ``citation`` and, where a provenance file lies in ``root``,
    ``digest``. MedMNIST's licence is its flag's (DermaMNIST: CC BY-NC 4.0)."""
    from benchmark.data.fetch._catalogue import CATALOGUE

    recorded = read_provenance(Path(root)) if root else {}
    if layout == "medmnist":
        return _about_medmnist(options, recorded)
    if layout.startswith("synthetic"):
        return {"licence": "none (generated)", "commercial": "yes",
                "source": "phantoms rendered by medbench", "citation": ""}  # fmt: skip
    item = CATALOGUE.get(layout)
    if item is None:
        return {"licence": "unknown", "commercial": "unknown", "source": str(root or ""),
                "citation": ""}  # fmt: skip
    out = {
        "licence": item.licence,
        "commercial": "yes" if item.commercial else "no",
        "source": item.homepage,
        "citation": item.citation,
    }
    if recorded.get("digest"):
        out["digest"] = str(recorded["digest"])
    return out


def _about_medmnist(options: Any, recorded: Mapping[str, Any]) -> dict[str, str]:
    from benchmark.data import medmnist

    def option(key: str, default: Any) -> Any:
        if isinstance(options, Mapping):
            return options.get(key, default)
        return getattr(options, key, default)

    flag, size = option("flag", None), int(option("size", 28) or 28)
    if not flag or flag not in medmnist.flags():
        return {"licence": "CC BY 4.0 (DermaMNIST: CC BY-NC 4.0)", "commercial": "unknown",
                "source": medmnist.HOMEPAGE, "citation": medmnist.CITATION}  # fmt: skip
    licence, commercial = medmnist.licence(flag)
    out = {
        "licence": licence,
        "commercial": "yes" if commercial else "no",
        "source": medmnist.url_and_md5(flag, size)[0],
        "citation": medmnist.CITATION,
    }
    file = recorded.get("files", {}).get(medmnist.file_name(flag, size))
    if file and file.get("md5"):
        out["digest"] = f"md5:{file['md5']}"
    return out
