"""Models the user brought: a .gguf file imported under a name, hashed, and served by name.

Imported files live in `<home>/models/imported/` (copied, or linked with `--link`), and
`<home>/models/imported.json` records each one's size and SHA-256, so the store verifies them
exactly like catalog models.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from fauxpilot.models.catalog import CATALOG, CatalogEntry
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


class ModelImportError(ValueError):
    """What was given cannot be imported; the message says what would work."""


@dataclass(frozen=True)
class ImportedModel:
    name: str
    filename: str  # relative to the models directory
    size: int
    sha256: str
    source: str

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
    store: ModelStore, source: Path, name: str | None = None, *, link: bool = False
) -> ImportedModel:
    """Import a .gguf file under a name; a Hugging Face directory gets an explanation."""
    source = source.expanduser().resolve()
    if source.is_dir():
        raise ModelImportError(_checkpoint_message(source))
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
    return register(store, chosen, target, digest, str(source))


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


def _checkpoint_message(folder: Path) -> str:
    if (folder / "config.json").is_file():
        return (
            f"{folder} is a Hugging Face checkpoint. Serving those directly needs the "
            "CTranslate2 engine, which this version does not have yet. Convert it to GGUF "
            "with llama.cpp's convert_hf_to_gguf.py and import the .gguf file."
        )
    return f"{folder} is a directory; give a .gguf file"
