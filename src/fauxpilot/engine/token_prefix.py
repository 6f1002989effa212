"""The tokens whose bytes start with given bytes: a sorted index over a vocabulary."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt


class TokenPrefixIndex:
    """Every token's bytes, sorted, so the tokens that start with some bytes are one range.

    Built by `build()` or on first use (one `piece` call per vocabulary entry, ~0.7 s for
    150,000 tokens on a small CPU); tokens without bytes (special ones) are left out.
    Thread-safe.
    """

    def __init__(self, piece: Callable[[int], bytes], vocab_size: int) -> None:
        self._piece = piece
        self._vocab_size = vocab_size
        self._pieces: list[bytes] | None = None
        self._ids: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()

    def build(self) -> None:
        self._sorted()

    def starting_with(self, prefix: bytes) -> npt.NDArray[np.int64]:
        """The ids of the tokens whose bytes start with `prefix`."""
        pieces, ids = self._sorted()
        start = bisect.bisect_left(pieces, prefix)
        bound = _next_prefix(prefix)
        end = len(pieces) if bound is None else bisect.bisect_left(pieces, bound, lo=start)
        return ids[start:end]

    def _sorted(self) -> tuple[list[bytes], npt.NDArray[np.int64]]:
        with self._lock:
            if self._pieces is None:
                entries = sorted(
                    (piece, token)
                    for token in range(self._vocab_size)
                    if (piece := self._piece(token))
                )
                self._pieces = [piece for piece, _ in entries]
                self._ids = np.array([token for _, token in entries], dtype=np.int64)
            return self._pieces, self._ids


def _next_prefix(prefix: bytes) -> bytes | None:
    """The smallest bytes greater than every bytes that start with `prefix`; None if none."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
