"""Where a backbone's files come from, checked within seconds before timm reads them: timm's
pretrained weights, a ``hf-hub:`` repository (its ``config.json``, and its weights when
pretrained) and a ``local-dir:`` folder; each failure is one line that says how to fix it.

timm (through huggingface_hub) retries its downloads for most of a minute before giving up,
so what is needed is looked up in the local cache first, then refused at once with
``HF_HUB_OFFLINE``, else the Hub answers one metadata request within :data:`PROBE_TIMEOUT_S`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

import timm
import torch

from benchmark.errors import ModelError
from benchmark.models._names import CONFIG_FILE, split_source
from benchmark.models._weights import FOLDER_WEIGHTS, HUB_WEIGHTS

__all__ = ["PROBE_TIMEOUT_S", "Unreachable", "ensure_available", "hub_error", "weights_help"]

PROBE_TIMEOUT_S = 3.0


def ensure_available(name: str, *, pretrained: bool) -> None:
    """Fail within seconds, with instructions, when what ``name`` needs cannot be had:
    the pretrained weights of a timm name, the ``config.json`` (and, pretrained, the
    weights) of a ``hf-hub:`` repository, the weights of a ``local-dir:`` folder."""
    source, rest = split_source(name)
    if source == "local-dir":
        folder = Path(rest)
        if pretrained and not any(p.name.endswith(FOLDER_WEIGHTS) for p in folder.iterdir()):
            raise ModelError(
                f"backbone '{name}': the folder holds no weights (model.safetensors, "
                "pytorch_model.bin or another .safetensors/.pth/.bin file beside its "
                f"{CONFIG_FILE}); add them, or train from scratch with `pretrained: false`."
            )
    elif source == "hf-hub":
        repo, _, revision = rest.partition("@")
        needed: list[tuple[str, ...]] = [(CONFIG_FILE,), *([HUB_WEIGHTS] if pretrained else [])]
        _probe_hub(name, repo, revision or None, needed=needed, probe=CONFIG_FILE)
    elif pretrained:
        _ensure_timm_weights(name)


def _ensure_timm_weights(name: str) -> None:
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        raise ModelError(f"timm has no pretrained weights for '{name}'. Use `pretrained: false`.")
    if cfg.hf_hub_id:
        repo, _, revision = cfg.hf_hub_id.partition("@")
        files = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HUB_WEIGHTS
        _probe_hub(name, repo, revision or None, needed=[files], probe=files[0])
    elif cfg.url:  # a URL, or (URL, file name) as timm's hub helpers read it
        url, filename = (
            (cfg.url, Path(urlparse(cfg.url).path).name) if isinstance(cfg.url, str) else cfg.url
        )
        if (Path(torch.hub.get_dir()) / "checkpoints" / filename).is_file():
            return
        _refuse_offline(name)
        try:
            urlopen(Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_S).close()
        except HTTPError:
            return  # the server answered: downloads can go on
        except Exception as exc:  # DNS, refused, timed out: whatever urllib raises
            raise _unreachable(name, url, exc) from None


def _probe_hub(
    name: str, repo: str, revision: str | None, *, needed: list[tuple[str, ...]], probe: str
) -> None:
    """Return when each group of ``needed`` has a file in the local cache, or the Hub
    answers for ``probe`` (a file name it lacks included); raise the one-line error
    otherwise (offline, unreachable, gated, not found)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError

    def cached(filename: str) -> bool:
        return isinstance(try_to_load_from_cache(repo, filename, revision=revision), str)

    if all(any(cached(f) for f in group) for group in needed):
        return
    _refuse_offline(name)
    url = hf_hub_url(repo, probe, revision=revision)
    try:
        get_hf_file_metadata(url, timeout=PROBE_TIMEOUT_S)
    except RemoteEntryNotFoundError as exc:
        if probe == CONFIG_FILE:  # every timm model on the Hub has its config
            raise hub_error(name, exc) or exc from None
    except HfHubHTTPError as exc:
        if (error := hub_error(name, exc)) is not None:
            raise error from None
        # any other answer of the server (a 5xx, say): the download itself says what it is
    except Exception as exc:  # DNS, refused, timed out: whatever the HTTP client raises
        raise _unreachable(name, url, exc) from None


def hub_error(name: str, exc: BaseException) -> ModelError | None:
    """The one-line error of the Hub's answer ``exc`` (gated, no such repository, revision
    or config); ``None`` for other errors."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    source, rest = split_source(name)
    repo, _, revision = rest.partition("@")
    if source != "hf-hub":
        repo = getattr(exc, "repo_id", None) or repo
    page = f"https://huggingface.co/{repo}"
    if isinstance(exc, GatedRepoError):
        if get_token() is None:
            return ModelError(
                f"backbone '{name}' is a gated model and no Hugging Face token is set: accept "
                f"its terms on {page} with your account, then set HF_TOKEN to an access token "
                "of that account (huggingface.co/settings/tokens) or run `hf auth login`."
            )
        return ModelError(
            f"backbone '{name}' is a gated model and the token set (HF_TOKEN or `hf auth "
            f"login`) has no access to it: request access on {page} with that account."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return ModelError(
            f"backbone '{name}': the Hugging Face Hub has no repository '{repo}' (or it is "
            "private: set HF_TOKEN to an access token that can read it)."
        )
    if isinstance(exc, RevisionNotFoundError):
        return ModelError(f"backbone '{name}': repository '{repo}' has no revision '{revision}'.")
    if isinstance(exc, EntryNotFoundError) and source == "hf-hub":
        return ModelError(
            f"backbone '{name}': repository '{repo}' has no {CONFIG_FILE}, so it is not a timm "
            "model (hf-hub: names need timm's config beside the weights)."
        )
    return None


def _refuse_offline(name: str) -> None:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        reason = "HF_HUB_OFFLINE is set and they are not in the local cache"
        raise ModelError(weights_help(name, reason=reason))


class Unreachable(ModelError):
    """A backbone's files are not cached and their source cannot be reached (``reason``)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(weights_help(name, reason=reason))
        self.reason = reason


def _unreachable(name: str, url: str, exc: Exception) -> ModelError:
    return Unreachable(name, f"{urlparse(url).hostname} cannot be reached ({type(exc).__name__})")


def weights_help(name: str, *, reason: str) -> str:
    """How to get a backbone's files when they cannot be had (one line)."""
    source = split_source(name)[0]
    if source == "local-dir":
        return f"backbone '{name}' cannot be loaded from its folder: {reason}."
    if source == "hf-hub":
        return (
            f"backbone '{name}' cannot be loaded: {reason}. Either connect to the internet "
            "once (it is then cached under ~/.cache/huggingface, or HF_HOME), or copy that "
            "cache from a machine that has it, or download the repository into a folder and "
            "name it `local-dir:path/to/folder`."
        )
    return (
        f"pretrained weights for backbone '{name}' cannot be loaded: {reason}. Either connect "
        "to the internet once (timm caches them under ~/.cache/huggingface), or download them "
        f"elsewhere and give the file: `backbones: [{{name: {name}, weights: "
        f"path/to/{name}.safetensors}}]`, or train from scratch with `pretrained: false`."
    )
