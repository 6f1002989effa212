import hashlib
from pathlib import Path

import pytest

from fauxpilot.models.catalog import CatalogEntry
from fauxpilot.models.resolve import resolve_model
from fauxpilot.models.store import ModelFileError, ModelStore, write_hashed

CONTENT = b"GGUF" + b"\x00" * 1000


def entry() -> CatalogEntry:
    return CatalogEntry(
        name="toy",
        description="",
        family="plain",
        filename="toy.gguf",
        size=len(CONTENT),
        sha256=hashlib.sha256(CONTENT).hexdigest(),
    )


def install(tmp_path: Path, content: bytes) -> ModelStore:
    store = ModelStore(tmp_path)
    store.models_dir.mkdir(parents=True)
    store.path_for(entry()).write_bytes(content)
    return store


def test_good_file_verifies_and_is_remembered(tmp_path: Path) -> None:
    store = install(tmp_path, CONTENT)
    assert not store.state(entry()).verified
    store.verify(entry())
    assert store.state(entry()).verified


def test_truncated_file_is_reported_with_the_fix(tmp_path: Path) -> None:
    store = install(tmp_path, CONTENT[:-10])
    with pytest.raises(ModelFileError, match=r"truncated.*fauxpilot models pull toy --force"):
        store.verify(entry())


def test_corrupt_file_is_reported_with_the_fix(tmp_path: Path) -> None:
    store = install(tmp_path, CONTENT[:-1] + b"\x01")
    with pytest.raises(ModelFileError, match=r"corrupt.*fauxpilot models pull toy --force"):
        store.verify(entry())


def test_a_changed_file_is_hashed_again(tmp_path: Path) -> None:
    store = install(tmp_path, CONTENT)
    store.verify(entry())
    path = store.path_for(entry())
    path.write_bytes(CONTENT[:-1] + b"\x02")
    assert not store.state(entry()).verified
    with pytest.raises(ModelFileError, match="corrupt"):
        store.verify(entry())


def test_local_path_must_be_gguf(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        resolve_model(str(bogus), ModelStore(tmp_path))
    good = tmp_path / "good.gguf"
    good.write_bytes(CONTENT)
    assert resolve_model(str(good), ModelStore(tmp_path)).path == good


def test_a_refused_hashed_write_leaves_neither_file(tmp_path: Path) -> None:
    target = tmp_path / "model.gguf"

    def refuse(size: int, sha256: str) -> None:
        assert size == 6
        raise ValueError("wrong hash")

    with pytest.raises(ValueError, match="wrong hash"):
        write_hashed([b"abc", b"def"], target, refuse)
    assert list(tmp_path.iterdir()) == []
    digest = write_hashed([b"abc", b"def"], target)
    assert digest == hashlib.sha256(b"abcdef").hexdigest()
    assert target.read_bytes() == b"abcdef" and list(tmp_path.iterdir()) == [target]
