"""Stop strings that may span token boundaries.

Text is held back only while it could still be the start of a stop string, so a stop string
is always found whole in the held text, and text once emitted never has to be taken back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Piece(Generic[T]):
    text: str
    payload: T


@dataclass(frozen=True)
class StopRule:
    """Stop where `text` appears; the first `keep` characters of it stay in the output."""

    text: str
    keep: int = 0


def suffix_repeat_rule(suffix: str) -> StopRule | None:
    """Stop when the completion writes the suffix's first line again as a whole line.

    Models that fill a hole often run on into the code that follows it; a line equal to
    the suffix's first non-blank line means that has happened. The newline before the
    repeated line stays, so the completion still ends its own last line.
    """
    first_line = next((line for line in suffix.split("\n") if line.strip()), None)
    if first_line is None:
        return None
    return StopRule(f"\n{first_line}\n", keep=1)


class StopAssembler(Generic[T]):
    """Feeds (text, payload) pieces through; returns the pieces safe to emit."""

    def __init__(self, stops: Sequence[str | StopRule]) -> None:
        rules = [stop if isinstance(stop, StopRule) else StopRule(stop) for stop in stops]
        self._rules = [rule for rule in rules if rule.text]
        self._stops = [rule.text for rule in self._rules]
        self._pending: list[Piece[T]] = []
        self.stopped = False

    def push(self, text: str, payload: T) -> list[Piece[T]]:
        if self.stopped:
            return []
        self._pending.append(Piece(text, payload))
        joined = "".join(piece.text for piece in self._pending)
        hit = self._first_stop(joined)
        if hit is not None:
            self.stopped = True
            return self._take(hit, cut_straddling=True)
        return self._take(len(joined) - self._held_length(joined), cut_straddling=False)

    def flush(self) -> list[Piece[T]]:
        pending, self._pending = self._pending, []
        return pending

    def _first_stop(self, text: str) -> int | None:
        """Where the output ends: the earliest stop found, plus what that stop keeps."""
        found = [(index, rule.keep) for rule in self._rules if (index := text.find(rule.text)) >= 0]
        if not found:
            return None
        index, keep = min(found)
        return index + keep

    def _held_length(self, text: str) -> int:
        """Length of the longest end of `text` that begins some stop string."""
        longest = 0
        for stop in self._stops:
            for length in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:length]):
                    longest = length
                    break
        return longest

    def _take(self, limit: int, *, cut_straddling: bool) -> list[Piece[T]]:
        taken: list[Piece[T]] = []
        end = 0
        for index, piece in enumerate(self._pending):
            if end + len(piece.text) <= limit:
                taken.append(piece)
                end += len(piece.text)
                continue
            if cut_straddling and limit > end:
                taken.append(Piece(piece.text[: limit - end], piece.payload))
            self._pending = [] if cut_straddling else self._pending[index:]
            return taken
        self._pending = []
        return taken
