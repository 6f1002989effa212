"""Stop strings that may span token boundaries.

Text is held back only while it could still be the start of a stop string, so a stop string
is always found whole in the held text, and text once emitted never has to be taken back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from fauxpilot.completion.languages import rules_for
from fauxpilot.completion.types import CompletionJob

T = TypeVar("T")


@dataclass
class Piece(Generic[T]):
    text: str
    payload: T


class StopMatcher(Protocol):
    def find(self, text: str) -> int | None:
        """Where the output must end in `text` (characters kept), or None."""
        ...

    def held(self, text: str) -> int:
        """How many characters at the end of `text` might still become a stop."""
        ...


@dataclass(frozen=True)
class StopRule:
    """Stop where `text` appears; the first `keep` characters of it stay in the output."""

    text: str
    keep: int = 0

    def find(self, text: str) -> int | None:
        index = text.find(self.text)
        return None if index < 0 else index + self.keep

    def held(self, text: str) -> int:
        for length in range(min(len(self.text) - 1, len(text)), 0, -1):
            if text.endswith(self.text[:length]):
                return length
        return 0


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


_LINE_START = re.compile(r"\n([ \t]*)(?=[^ \t\n])")


@dataclass(frozen=True)
class DedentRule:
    """Stop before a line indented less than the block the completion started in.

    A suggestion for the body of a block ends where the code leaves that block; blank lines
    do not count. The newline stays, so the last line of the block is complete.
    """

    block_indent: int

    def find(self, text: str) -> int | None:
        for match in _LINE_START.finditer(text):
            if indent_width(match.group(1)) < self.block_indent:
                return match.start() + 1
        return None

    def held(self, text: str) -> int:
        newline = text.rfind("\n")
        if newline < 0 or text[newline + 1 :].strip(" \t"):
            return 0
        return len(text) - newline


def indent_width(whitespace: str) -> int:
    return len(whitespace.expandtabs(4))


def cursor_block_indent(prompt: str) -> int | None:
    """The indentation of the cursor's line, or None when the cursor is at a line start."""
    line = prompt[prompt.rfind("\n") + 1 :]
    if not line:
        return None
    return indent_width(line[: len(line) - len(line.lstrip(" \t"))])


def stop_rules(job: CompletionJob) -> list[StopMatcher]:
    """The request's stop strings, plus, when it fills a hole, the editor-like stops."""
    rules: list[StopMatcher] = [StopRule(stop) for stop in job.stop if stop]
    if not job.suffix:
        return rules
    language = rules_for(job.language, job.path)
    if "\n" not in job.stop:  # a multi-line suggestion: end it at the next definition
        rules.extend(StopRule(word, keep=1) for word in language.stop_words)
    if (repeat := suffix_repeat_rule(job.suffix)) is not None:
        rules.append(repeat)
    prompt = job.prompts[0] if job.prompts else ""
    indent = cursor_block_indent(prompt) if isinstance(prompt, str) else None
    if language.dedent_stop and indent:
        rules.append(DedentRule(indent))
    return rules


class StopAssembler(Generic[T]):
    """Feeds (text, payload) pieces through; returns the pieces safe to emit."""

    def __init__(self, stops: Sequence[str | StopMatcher]) -> None:
        matchers = [StopRule(stop) if isinstance(stop, str) else stop for stop in stops]
        self._matchers = [m for m in matchers if not isinstance(m, StopRule) or m.text]
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
        held = max((matcher.held(joined) for matcher in self._matchers), default=0)
        return self._take(len(joined) - held, cut_straddling=False)

    def flush(self) -> list[Piece[T]]:
        pending, self._pending = self._pending, []
        return pending

    def _first_stop(self, text: str) -> int | None:
        """Where the output ends: the earliest cut any matcher asks for."""
        cuts = [cut for matcher in self._matchers if (cut := matcher.find(text)) is not None]
        return min(cuts) if cuts else None

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
