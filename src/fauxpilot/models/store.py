"""Where model files live on disk and whether they can be trusted.

A model file is trusted once its SHA-256 matched the catalog. That fact is recorded beside the
file in a small marker, bound to the file's size and modification time, so a later start only
re-hashes when the file changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fauxpilot.errors import UserError
from fauxpilot.models.catalog import CatalogEntry

log = logging.getLogger(__name__)

HASH_CHUNK = 4 * 1024 * 1024
GGUF_MAGIC = b"GGUF"


class ModelFileError(UserError, RuntimeError):
    """A model file is missing, truncated or corrupt; the message says how to fix it."""


@dataclass(frozen=True)
class FileState:
    path: Path
    exists: bool
    size: int
    verified: bool


def read_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(HASH_CHUNK):
        yield chunk


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in read_chunks(handle):
            digest.update(chunk)
    return digest.hexdigest()


def file_magic(path: Path) -> bytes:
    """The first four bytes of a file (b"GGUF" for a GGUF model)."""
    with path.open("rb") as handle:
        return handle.read(4)


def write_hashed(
    chunks: Iterable[bytes], target: Path, check: Callable[[int, str], None] | None = None
) -> str:
    """Write `chunks` to `target` through a `.partial` file, hashing them on the way.

    The file takes its final name only after `check(size, sha256)` (if given) returned, so an
    interrupted or refused write never leaves a file that looks complete. Returns the SHA-256.
    """
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
        if check is not None:
            check(written, digest.hexdigest())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return digest.hexdigest()


class ModelStore:
    def __init__(self, home: Path) -> None:
        self.models_dir = home / "models"

    def path_for(self, entry: CatalogEntry) -> Path:
        return self.models_dir / entry.filename

    def _marker_for(self, path: Path) -> Path:
        return path.with_name(path.name + ".verified")

    def state(self, entry: CatalogEntry) -> FileState:
        path = self.path_for(entry)
        if not path.is_file():
            return FileState(path, exists=False, size=0, verified=False)
        size = path.stat().st_size
        return FileState(path, exists=True, size=size, verified=self._marker_matches(entry, path))

    def _marker_matches(self, entry: CatalogEntry, path: Path) -> bool:
        marker = self._marker_for(path)
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, ValueError):
            return False
        stat = path.stat()
        return bool(
            recorded.get("sha256") == entry.sha256
            and recorded.get("size") == stat.st_size
            and recorded.get("mtime_ns") == stat.st_mtime_ns
        )

    def record_verified(self, entry: CatalogEntry, path: Path) -> None:
        stat = path.stat()
        marker = {"sha256": entry.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        self._marker_for(path).write_text(json.dumps(marker))

    def verify(
        self, entry: CatalogEntry, *, force_hash: bool = False, fix: str | None = None
    ) -> Path:
        """Check size and SHA-256 of an installed model; raise ModelFileError with the fix."""
        state = self.state(entry)
        fix = fix or f"run `fauxpilot models pull {entry.name} --force` to fetch it again"
        if not state.exists:
            raise ModelFileError(f"model {entry.name} is not installed at {state.path}; {fix}")
        if state.size != entry.size:
            raise ModelFileError(
                f"model file {state.path} has {state.size:,} bytes but {entry.name} has "
                f"{entry.size:,}: it is truncated or not this model; {fix}"
            )
        if state.verified and not force_hash:
            return state.path
        log.info("verifying SHA-256 of %s", state.path)
        actual = sha256_of(state.path)
        if actual != entry.sha256:
            raise ModelFileError(
                f"model file {state.path} is corrupt: SHA-256 {actual} but {entry.name} is "
                f"{entry.sha256}; {fix}"
            )
        self.record_verified(entry, state.path)
        return state.path
