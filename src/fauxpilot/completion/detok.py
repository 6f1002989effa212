"""Incremental detokenizing that never emits half a UTF-8 character."""

from __future__ import annotations

import codecs


class Utf8Stream:
    """Turns token byte pieces into text; bytes of an unfinished character wait for the next."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, piece: bytes) -> str:
        return self._decoder.decode(piece)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


def piece_text(piece: bytes) -> str:
    """The text of one token on its own (for top-logprob keys); broken bytes become U+FFFD."""
    return piece.decode("utf-8", errors="replace")
