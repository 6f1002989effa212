"""`fauxpilot models pull ORG/REPO`: a GGUF file, or else the Hugging Face checkpoint (served by
CTranslate2), from the Hugging Face hub, through `huggingface_hub`.

So the hub's own settings hold: `HF_TOKEN` (gated and private repositories), `HF_ENDPOINT` (a
company mirror), `HF_HOME` / `HF_HUB_CACHE` (the cache shared with every other tool; the model
is linked from there, not copied), `HF_HUB_OFFLINE=1` (only what that cache holds), and a cut
download resumes. Without network it fails within seconds and names what works offline.
"""

from __future__ import annotations

import logging
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from fauxpilot.models.imported import ImportedModel, import_model, name_for
from fauxpilot.models.pull import PullError
from fauxpilot.models.store import ModelStore

log = logging.getLogger(__name__)

REACH_TIMEOUT_SECONDS = 5.0
PREFERRED_QUANT = "q4_k_m"
OFFLINE_ALTERNATIVES = (
    "copy a .gguf file or a checkpoint folder to this machine and run "
    "`fauxpilot models import PATH`, or use a catalog model (`fauxpilot models list`)"
)
CHECKPOINT_FILES = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "vocab.json", "merges.txt", "special_tokens_map.json", "added_tokens.json",
    "tokenizer.model", "model.safetensors.index.json", "pytorch_model.bin.index.json",
)  # fmt: skip


def hub_offline() -> bool:
    """HF_HUB_OFFLINE, as huggingface_hub read it: only the local cache is used."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def ensure_hub_reachable() -> None:
    """Unless offline, fail in seconds when the hub (or HF_ENDPOINT's mirror) cannot be reached."""
    if not hub_offline():
        check_hub_reachable(hub_endpoint())


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def check_hub_reachable(endpoint: str, timeout: float = REACH_TIMEOUT_SECONDS) -> None:
    """Fail in seconds where huggingface_hub would retry for a minute before saying offline."""
    address = urllib.parse.urlsplit(endpoint)
    host = address.hostname or endpoint
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        raise PullError(
            f"cannot reach {host} ({error}); this machine looks offline. Instead: "
            + OFFLINE_ALTERNATIVES
            + " (or set HF_HUB_OFFLINE=1 to use what the Hugging Face cache holds)"
        ) from error


def choose_gguf(files: list[str], wanted: str | None) -> str:
    """The file to fetch: the one asked for, else the Q4_K_M one, else the only GGUF."""
    ggufs = [name for name in files if name.lower().endswith(".gguf")]
    if wanted is not None:
        if wanted not in ggufs:
            raise PullError(f"{wanted} is not among the repository's GGUF files: {ggufs}")
        return wanted
    preferred = [name for name in ggufs if PREFERRED_QUANT in name.lower()]
    if len(preferred) == 1:
        return preferred[0]
    if len(ggufs) == 1:
        return ggufs[0]
    if not ggufs:
        raise PullError("the repository has no .gguf file")
    raise PullError(f"the repository has several GGUF files; pick one with --file: {ggufs}")


def checkpoint_files(files: list[str]) -> list[str]:
    """What serving a checkpoint needs: config, tokenizer, and the weights (safetensors first)."""
    top_level = [name for name in files if "/" not in name]
    weights = [name for name in top_level if name.endswith(".safetensors")]
    if not weights:
        weights = [n for n in top_level if n.startswith("pytorch_model") and n.endswith(".bin")]
    if "config.json" not in top_level or not weights:
        raise PullError(
            "the repository has neither a .gguf file nor a Hugging Face checkpoint "
            "(config.json and weights)"
        )
    return [name for name in top_level if name in CHECKPOINT_FILES] + weights


def pull_from_hub(
    store: ModelStore, repo: str, filename: str | None = None, name: str | None = None
) -> ImportedModel:
    """Download (or find in the Hugging Face cache) and import a hub repository's model."""
    ensure_hub_reachable()
    files = repo_files(repo)
    if filename is None and not any(f.lower().endswith(".gguf") for f in files):
        folder = _call_hub(
            "snapshot_download", repo, repo_id=repo, allow_patterns=checkpoint_files(files)
        )
        model_name = name_for(Path(repo.rsplit("/", 1)[-1]), name)
        return import_model(store, Path(folder), model_name, link=True, origin=f"hf://{repo}")
    chosen = choose_gguf(files, filename)
    path = hub_file(repo, chosen)
    model_name = name_for(Path(chosen), name)
    return import_model(store, path, model_name, link=True, origin=f"hf://{repo}/{chosen}")


def hub_file(repo: str, filename: str) -> Path:
    """One file of a repository, in the Hugging Face cache (downloaded or resumed if need be)."""
    return Path(_call_hub("hf_hub_download", f"{repo}/{filename}", repo_id=repo, filename=filename))


def repo_files(repo: str) -> list[str]:
    """The repository's files; offline, those of its snapshot in the local cache."""
    if hub_offline():
        folder = Path(_call_hub("snapshot_download", repo, repo_id=repo))
        return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
    from huggingface_hub import HfApi

    try:
        return list(HfApi().list_repo_files(repo))
    except Exception as error:  # huggingface_hub's errors have no common base but Exception
        raise PullError(_hub_failure(f"cannot list the files of {repo}", error)) from error


def _call_hub(function: str, what: str, **arguments: Any) -> str:
    import huggingface_hub

    log.info("fetching %s from %s (or the Hugging Face cache)", what, hub_endpoint())
    try:
        return str(getattr(huggingface_hub, function)(**arguments))
    except Exception as error:  # huggingface_hub's errors have no common base but Exception
        raise PullError(_hub_failure(f"cannot fetch {what}", error)) from error


def _hub_failure(what: str, error: Exception) -> str:
    from huggingface_hub import errors

    if isinstance(error, errors.GatedRepoError):
        return f"{what}: the repository is gated; accept its terms on the hub and set HF_TOKEN"
    if isinstance(error, errors.RepositoryNotFoundError):
        return (
            f"{what}: no such repository, or it is private (set HF_TOKEN to a token that may "
            "read it)"
        )
    if isinstance(error, errors.LocalEntryNotFoundError):
        return f"{what}: not in the Hugging Face cache and the hub is not used. Instead: " + (
            OFFLINE_ALTERNATIVES
        )
    return f"{what}: {type(error).__name__}: {error}"
