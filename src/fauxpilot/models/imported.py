"""Models the user brought: a .gguf file or a Hugging Face checkpoint folder, imported under
a name, hashed, and served by name.

Imports live in `<home>/models/imported/` (copied, or linked with `--link`), and
`<home>/models/imported.json` records each one's size and SHA-256 (for a checkpoint folder:
the SHA-256 of its manifest, one line per file with that file's SHA-256), so they are verified
like catalog models before use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from fauxpilot.errors import UserError
from fauxpilot.models.catalog import CATALOG, CatalogEntry
from fauxpilot.models.hf_checkpoint import Checkpoint, read_checkpoint
from fauxpilot.models.store import (
    GGUF_MAGIC,
    ModelFileError,
    ModelStore,
    file_magic,
    read_chunks,
    sha256_of,
    write_hashed,
)

log = logging.getLogger(__name__)

IMPORTED_DIR = "imported"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ModelImportError(UserError, ValueError):
    """What was given cannot be imported; the message says what would work."""


@dataclass(frozen=True)
class ImportedModel:
    name: str
    filename: str  # relative to the models directory
    size: int
    sha256: str
    source: str
    kind: Literal["gguf", "hf"] = "gguf"  # "hf": a checkpoint folder, served by CTranslate2

    def as_entry(self) -> CatalogEntry:
        """A catalog entry (family detected from the vocabulary) for the store to verify."""
        return CatalogEntry(
            name=self.name,
            description=f"imported from {self.source}",
            family="",
            filename=self.filename,
            size=self.size,
            sha256=self.sha256,
        )


class ImportRegistry:
    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.path = store.models_dir / "imported.json"

    def all(self) -> dict[str, ImportedModel]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise ModelFileError(f"cannot read {self.path}: {error}") from error
        return {name: ImportedModel(**fields) for name, fields in raw.items()}

    def get(self, name: str) -> ImportedModel | None:
        return self.all().get(name)

    def add(self, model: ImportedModel) -> None:
        models = self.all()
        models[model.name] = model
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {name: asdict(entry) for name, entry in sorted(models.items())}
        self.path.write_text(json.dumps(payload, indent=2) + "\n")


def name_for(source: Path, name: str | None) -> str:
    chosen = (name or source.stem).lower()
    if not NAME_PATTERN.match(chosen):
        raise ModelImportError(
            f"{chosen!r} is not a usable model name: lower-case letters, digits, '.', '_' "
            "and '-', at most 64; give one with --name"
        )
    if any(chosen == entry.name or chosen in entry.aliases for entry in CATALOG):
        raise ModelImportError(f"{chosen!r} is a catalog model's name; give another with --name")
    return chosen


def import_model(
    store: ModelStore,
    source: Path,
    name: str | None = None,
    *,
    link: bool = False,
    origin: str | None = None,
) -> ImportedModel:
    """Import a .gguf file or a Hugging Face checkpoint folder under a name.

    `origin` is what the registry records as its source (default: the path).
    """
    source = source.expanduser().resolve()
    if source.is_dir():
        return _import_checkpoint(store, source, name, link=link, origin=origin)
    if not source.is_file():
        raise ModelImportError(f"no file at {source}")
    if file_magic(source) != GGUF_MAGIC:
        raise ModelImportError(f"{source} is not a GGUF file (it lacks the GGUF magic bytes)")
    chosen = name_for(source, name)
    target = imported_path(store, chosen)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    if link:
        target.symlink_to(source)
        digest = sha256_of(source)
    else:
        digest = _copy_hashing(source, target)
    return register(store, chosen, target, digest, origin or str(source))


def imported_path(store: ModelStore, name: str) -> Path:
    return store.models_dir / IMPORTED_DIR / f"{name}.gguf"


def register(store: ModelStore, name: str, target: Path, digest: str, source: str) -> ImportedModel:
    """Record a file already in place under imported/ as a model the store can verify."""
    model = ImportedModel(
        name=name,
        filename=f"{IMPORTED_DIR}/{target.name}",
        size=target.stat().st_size,
        sha256=digest,
        source=source,
    )
    ImportRegistry(store).add(model)
    store.record_verified(model.as_entry(), target)
    log.info("imported %s as %s (SHA-256 %s)", source, name, digest)
    return model


def _copy_hashing(source: Path, target: Path) -> str:
    with source.open("rb") as reading:
        digest = write_hashed(read_chunks(reading), target)
    shutil.copystat(source, target)
    return digest


def verify_imported(store: ModelStore, model: ImportedModel, *, force_hash: bool = False) -> Path:
    """The imported model's path once its bytes are checked against what was imported."""
    fix = f"import it again: `fauxpilot models import {model.source} --name {model.name}`"
    if model.kind != "hf":
        return store.verify(model.as_entry(), fix=fix, force_hash=force_hash)
    folder = store.models_dir / model.filename
    try:
        checkpoint = read_checkpoint(folder)
    except ModelFileError as error:
        raise ModelFileError(f"{error}; {fix}") from error
    marker = folder.with_name(folder.name + ".verified")
    fingerprint = checkpoint.fingerprint()
    if not force_hash and marker.is_file() and marker.read_text().strip() == fingerprint:
        return folder
    if manifest_digest(checkpoint) != model.sha256:
        raise ModelFileError(f"{folder} changed since it was imported; {fix}")
    marker.write_text(fingerprint + "\n")
    return folder


def manifest_digest(checkpoint: Checkpoint) -> str:
    """SHA-256 over one "relative path, SHA-256" line per file of the checkpoint."""
    lines = [
        f"{path.relative_to(checkpoint.folder).as_posix()} {sha256_of(path)}\n"
        for path in checkpoint.files
    ]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _import_checkpoint(
    store: ModelStore, source: Path, name: str | None, *, link: bool, origin: str | None
) -> ImportedModel:
    try:
        read_checkpoint(source)  # refuse early: no config, no weights, unknown architecture
    except ModelFileError as error:
        raise ModelImportError(str(error)) from error
    chosen = name_for(source, name)
    target = store.models_dir / IMPORTED_DIR / chosen
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    if link:
        target.symlink_to(source, target_is_directory=True)
    else:
        shutil.copytree(source, target)
    checkpoint = read_checkpoint(target)
    model = ImportedModel(
        name=chosen,
        filename=f"{IMPORTED_DIR}/{chosen}",
        size=sum(path.stat().st_size for path in checkpoint.files),
        sha256=manifest_digest(checkpoint),
        source=origin or str(source),
        kind="hf",
    )
    ImportRegistry(store).add(model)
    target.with_name(target.name + ".verified").write_text(checkpoint.fingerprint() + "\n")
    log.info("imported the %s checkpoint %s as %s", checkpoint.architecture, source, chosen)
    return model
