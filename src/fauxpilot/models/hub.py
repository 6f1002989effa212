"""`fauxpilot models pull ORG/REPO`: a GGUF file from the Hugging Face hub, when online.

Without network it fails within seconds and names what works offline instead.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request
from pathlib import Path

from fauxpilot.models.imported import ImportedModel, imported_path, name_for, register
from fauxpilot.models.pull import PullError, url_chunks
from fauxpilot.models.store import ModelStore, write_hashed

log = logging.getLogger(__name__)

HUB_HOST = "huggingface.co"
HUB_API = "https://huggingface.co/api/models/{repo}"
HUB_FILE = "https://huggingface.co/{repo}/resolve/main/{filename}"
REACH_TIMEOUT_SECONDS = 5.0
PREFERRED_QUANT = "q4_k_m"
OFFLINE_ALTERNATIVES = (
    "copy a .gguf file to this machine and run `fauxpilot models import FILE`, "
    "or use a catalog model (`fauxpilot models list`)"
)


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
        raise PullError("the repository has no .gguf file; convert the checkpoint to GGUF first")
    raise PullError(f"the repository has several GGUF files; pick one with --file: {ggufs}")


def pull_from_hub(
    store: ModelStore, repo: str, filename: str | None = None, name: str | None = None
) -> ImportedModel:
    check_hub_reachable()
    chosen = choose_gguf(_repo_files(repo), filename)
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
