"""A backbone's pretrained weights on this machine: where timm reads them from (a Hugging
Face Hub repository, a URL kept in torch's hub cache, a folder or a file), whether they are
there and how large, and fetching them ahead of a run on a machine without internet.

timm reads a timm name's weights from its pretrained config's ``hf_hub_id`` (``model.safetensors``,
else ``pytorch_model.bin``, or the config's ``hf_hub_filename``) when it has one, else from its
``url`` into ``torch.hub.get_dir()/checkpoints``; a ``hf-hub:`` name's ``config.json`` and
weights from its repository. Both caches are huggingface_hub's and torch's own, so
``HF_HOME``/``HF_HUB_CACHE`` and ``TORCH_HOME`` move them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from benchmark.errors import ModelError
from benchmark.models._names import CONFIG_FILE, split_source

__all__ = ["Weights", "fetch_weights", "locate_weights"]

Kind = Literal["hub", "url", "folder", "file", "none"]
HUB_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # what timm reads from a Hub repository
FOLDER_WEIGHTS = (".safetensors", ".pth", ".pth.tar", ".bin")  # what it reads from a folder


@dataclass(frozen=True)
class Weights:
    """Where a backbone's files come from (``kind``, ``source``: a Hub repository, a URL, a
    folder, a file, or nothing for ``pretrained: false``) and where they lie here."""

    backbone: str
    kind: Kind
    source: str
    pretrained: bool = True  # False: a hf-hub: or local-dir: name's config.json only
    needed: tuple[tuple[str, ...], ...] = ()  # hub: file groups, one of each is needed
    revision: str | None = None
    paths: tuple[Path, ...] = ()  # the files found on this machine
    missing: tuple[str, ...] = ()  # what is not there (file names, or the path)

    @property
    def present(self) -> bool:
        return not self.missing

    @property
    def size(self) -> int:
        """Bytes of the files found."""
        return sum(p.stat().st_size for p in self.paths if p.is_file())

    @property
    def fetchable(self) -> bool:
        """Whether ``medbench weights fetch`` can get them (a folder or file is the user's)."""
        return self.kind in ("hub", "url")


def locate_weights(name: str, *, pretrained: bool, weights: Path | None = None) -> Weights:
    """What ``create_model(name, pretrained=..., weights=...)`` reads, and whether it is on
    this machine (nothing is downloaded)."""
    if weights is not None:
        found = weights.is_file()
        return Weights(name, "file", str(weights), paths=(weights,) if found else (),
                       missing=() if found else (str(weights),))  # fmt: skip
    source, rest = split_source(name)
    if source == "local-dir":
        return _folder(name, Path(rest), pretrained=pretrained)
    if source == "hf-hub":
        repo, _, revision = rest.partition("@")
        groups = ((CONFIG_FILE,), *((HUB_WEIGHTS,) if pretrained else ()))
        return replace(_hub(name, repo, revision or None, groups), pretrained=pretrained)
    if not pretrained:
        return Weights(name, "none", "pretrained: false", pretrained=False)
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise ModelError(f"timm has no pretrained weights for '{name}'. Use `pretrained: false`.")
    if cfg.hf_hub_id or not cfg.url:
        repo, _, revision = str(cfg.hf_hub_id).partition("@")
        files = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HUB_WEIGHTS
        return _hub(name, repo, revision or None, (files,))
    url, filename = _url_and_file(cfg.url)
    path = _torch_checkpoints() / filename
    return Weights(name, "url", url, paths=(path,) if path.is_file() else (),
                   missing=() if path.is_file() else (filename,))  # fmt: skip


def fetch_weights(name: str, *, pretrained: bool, weights: Path | None = None) -> Weights:
    """Download what :func:`locate_weights` finds missing into the Hugging Face (or torch)
    cache, where timm looks for it; return where it now lies. A folder's or a file's weights
    cannot be fetched: a one-line :class:`ModelError` says so."""
    found = locate_weights(name, pretrained=pretrained, weights=weights)
    if found.present:
        return found
    if not found.fetchable:
        raise ModelError(
            f"backbone '{name}': {found.missing[0]} is not on this machine, and medbench "
            f"cannot fetch a {found.kind}'s weights: copy them there."
        )
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise ModelError(
            f"backbone '{name}': HF_HUB_OFFLINE is set, so its weights cannot be fetched; "
            "fetch them on a machine with internet (unset HF_HUB_OFFLINE there)."
        )
    from benchmark.models._hub import ensure_available

    # one request, refused within seconds where the source cannot be reached (gated, no
    # such repository, no network), before a download that retries for most of a minute
    ensure_available(name, pretrained=found.pretrained)
    if found.kind == "url":
        _download_url(name, found.source, found.missing[0])
    else:
        for group in found.needed:
            _download_hub(name, found.source, found.revision, group)
    return locate_weights(name, pretrained=pretrained, weights=weights)


def _hub(
    name: str, repo: str, revision: str | None, groups: tuple[tuple[str, ...], ...]
) -> Weights:
    from huggingface_hub import try_to_load_from_cache

    paths: list[Path] = []
    missing: list[str] = []
    for group in groups:
        hits = [try_to_load_from_cache(repo, f, revision=revision) for f in group]
        hit = next((Path(h) for h in hits if isinstance(h, str)), None)
        if hit is not None:
            paths.append(hit)
        else:
            missing.append(" or ".join(group))
    return Weights(name, "hub", repo, needed=groups, revision=revision, paths=tuple(paths),
                   missing=tuple(missing))  # fmt: skip


def _folder(name: str, folder: Path, *, pretrained: bool) -> Weights:
    files = [folder / CONFIG_FILE]
    if pretrained and folder.is_dir():
        files += sorted(p for p in folder.iterdir() if p.name.endswith(FOLDER_WEIGHTS))[:1]
    missing = [str(p) for p in files if not p.is_file()]
    if pretrained and len(files) == 1:
        missing.append(f"weights in {folder}")
    found = tuple(p for p in files if p.is_file())
    return Weights(name, "folder", str(folder), pretrained, paths=found, missing=tuple(missing))


def _url_and_file(url: str | tuple[str, str]) -> tuple[str, str]:
    """A pretrained config's ``url``: a URL, or (URL, file name) as timm's helpers read it."""
    if isinstance(url, str):
        return url, Path(urlparse(url).path).name
    return url[0], url[1]


def _torch_checkpoints() -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` (timm's URL loader) keeps files."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _download_url(name: str, url: str, filename: str) -> None:
    import torch

    folder = _torch_checkpoints()
    folder.mkdir(parents=True, exist_ok=True)
    try:  # writes a temporary file beside it, then renames it: never a partial file
        torch.hub.download_url_to_file(url, str(folder / filename), progress=True)
    except Exception as exc:  # HTTP, DNS, disk: whatever urllib and the file system raise
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(
            f"backbone '{name}': its weights could not be downloaded from "
            f"{urlparse(url).hostname} ({type(exc).__name__}: {reason})."
        ) from None


def _download_hub(name: str, repo: str, revision: str | None, group: tuple[str, ...]) -> None:
    """The first file of ``group`` the repository has, into the Hugging Face cache."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError

    from benchmark.models._hub import hub_error

    for filename in group:
        try:
            hf_hub_download(repo, filename, revision=revision)
            return
        except RemoteEntryNotFoundError:
            continue  # timm's order: model.safetensors, else pytorch_model.bin
        except HfHubHTTPError as exc:
            raise hub_error(name, exc) or _failed(name, repo, exc) from None
        except Exception as exc:  # DNS, refused, timed out, disk
            raise _failed(name, repo, exc) from None
    raise ModelError(f"backbone '{name}': repository '{repo}' has none of {list(group)}.")


def _failed(name: str, repo: str, exc: BaseException) -> ModelError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ModelError(f"backbone '{name}': fetching from '{repo}' failed ({reason}).")
