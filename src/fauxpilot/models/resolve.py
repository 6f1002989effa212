"""From what the user typed (a catalog name or a path) to a verified file on disk."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fauxpilot.models.catalog import FAMILIES, PromptFamily, UnknownModelError, find_entry
from fauxpilot.models.hf_checkpoint import is_checkpoint, read_checkpoint
from fauxpilot.models.imported import ImportRegistry, verify_imported
from fauxpilot.models.pull import pull
from fauxpilot.models.store import GGUF_MAGIC, ModelFileError, ModelStore, file_magic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path  # a .gguf file, or a Hugging Face checkpoint folder (kind "hf")
    family: PromptFamily | None  # None: detect from the vocabulary once loaded
    kind: Literal["gguf", "hf"] = "gguf"


def looks_like_path(spec: str) -> bool:
    """A path must look like one: a bare name is a catalog or imported model, even where a
    file of that name lies in the working directory (it would be loaded unverified)."""
    return spec.endswith(".gguf") or "/" in spec or spec.startswith(("~", "."))


def resolve_model(spec: str, store: ModelStore, *, pull_missing: bool = True) -> ResolvedModel:
    if looks_like_path(spec):
        return _local_file(Path(spec).expanduser())
    try:
        entry = find_entry(spec)
    except UnknownModelError as error:
        imported = ImportRegistry(store).get(spec)
        if imported is None:
            if Path(spec).exists():
                raise UnknownModelError(
                    f"{error}; to serve the file or folder {spec!r} here, write ./{spec}"
                ) from error
            raise
        path = verify_imported(store, imported)
        return ResolvedModel(imported.name, path, None, imported.kind)
    if store.state(entry).exists:
        path = store.verify(entry)
    elif pull_missing:
        log.info("model %s is not installed yet; pulling it", entry.name)
        path = pull(store, entry)
    else:
        raise ModelFileError(
            f"model {entry.name} is not installed; run `fauxpilot models pull {entry.name}`"
        )
    return ResolvedModel(entry.name, path, FAMILIES[entry.family])


def _local_file(path: Path) -> ResolvedModel:
    if is_checkpoint(path):
        checkpoint = read_checkpoint(path)
        return ResolvedModel(path.resolve().name, checkpoint.folder, None, "hf")
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    magic = file_magic(path)
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"{path} is not a GGUF file (it starts with {magic!r}); convert it to GGUF "
            "or give a catalog model name"
        )
    return ResolvedModel(path.stem, path, None)
