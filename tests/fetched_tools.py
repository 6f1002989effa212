"""Tools some tests fetch once from a package index by name, kept under the user's cache."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

CACHE = Path.home() / ".cache" / "fauxpilot" / "test-tools"


def download_checked(
    url: str, target: Path, algorithm: str, expected: bytes, timeout: float
) -> Path:
    """Stream `url` into `target`; raise OSError (and delete it) unless its `algorithm`
    digest is `expected`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.new(algorithm)
    with urllib.request.urlopen(url, timeout=timeout) as response, target.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.digest() != expected:
        target.unlink()
        raise OSError(f"{target.name}: {algorithm} {digest.hexdigest()} is not the expected one")
    return target
