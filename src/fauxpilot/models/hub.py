"""`fauxpilot models pull ORG/REPO`: a GGUF file, or else the Hugging Face checkpoint (served by
CTranslate2), from the Hugging Face hub, when online.

Without network it fails within seconds and names what works offline instead.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path

from fauxpilot.models.imported import (
    ImportedModel,
    import_model,
    imported_path,
    name_for,
    register,
)
from fauxpilot.models.pull import PullError, url_chunks
from fauxpilot.models.store import ModelStore, write_hashed

log = logging.getLogger(__name__)

HUB_HOST = "huggingface.co"
HUB_API = "https://huggingface.co/api/models/{repo}"
HUB_FILE = "https://huggingface.co/{repo}/resolve/main/{filename}"
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


def check_hub_reachable(
    host: str = HUB_HOST, port: int = 443, timeout: float = REACH_TIMEOUT_SECONDS
) -> None:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        raise PullError(
            f"cannot reach {host} ({error}); this machine looks offline. Instead: "
            + OFFLINE_ALTERNATIVES
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
    check_hub_reachable()
    files = _repo_files(repo)
    if filename is None and not any(f.lower().endswith(".gguf") for f in files):
        return _pull_checkpoint(store, repo, checkpoint_files(files), name)
    chosen = choose_gguf(files, filename)
    model_name = name_for(Path(chosen), name)
    target = imported_path(store, model_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    url = HUB_FILE.format(repo=repo, filename=chosen)
    try:
        digest = write_hashed(url_chunks(url, 0), target)
    except (OSError, urllib.error.URLError) as error:
        raise PullError(f"downloading {url} failed: {error}") from error
    return register(store, model_name, target, digest, f"hf://{repo}/{chosen}")


def _repo_files(repo: str) -> list[str]:
    try:
        with urllib.request.urlopen(HUB_API.format(repo=repo), timeout=30) as response:
            info = json.load(response)
    except (OSError, urllib.error.URLError, ValueError) as error:
        raise PullError(f"cannot list the files of {repo} on the hub: {error}") from error
    return [str(sibling.get("rfilename", "")) for sibling in info.get("siblings", [])]


def _pull_checkpoint(
    store: ModelStore, repo: str, files: list[str], name: str | None
) -> ImportedModel:
    """Download the checkpoint's files into a staging folder, then import it from there."""
    model_name = name_for(Path(repo.rsplit("/", 1)[-1]), name)
    staging = store.models_dir / "downloads" / model_name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for filename in files:
            url = HUB_FILE.format(repo=repo, filename=filename)
            log.info("downloading %s", url)
            try:
                write_hashed(url_chunks(url, 0), staging / filename)
            except (OSError, urllib.error.URLError) as error:
                raise PullError(f"downloading {url} failed: {error}") from error
        return import_model(store, staging, model_name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
