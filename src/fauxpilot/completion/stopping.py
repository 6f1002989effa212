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
from fauxpilot.completion.types import CompletionJob, StopOptions

T = TypeVar("T")


@dataclass
class Piece(Generic[T]):
    text: str
    payload: T


class StopMatcher(Protocol):
    """Reads the whole output so far: what was emitted and what is held back."""

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


_LINE_START = re.compile(r"(?:^|\n)([ \t]*)(?=[^ \t\n])")


@dataclass(frozen=True)
class DedentRule:
    """Stop before a line indented less than the block the suggestion is in.

    The block is that of the first line the suggestion writes on: the cursor's line when the
    suggestion continues it, else the first non-blank line after it. That line never stops
    the suggestion: after a finished line (`return b|`) the next one may well close the
    block (`else:`). Blank lines do not count; the newline before the cut stays, so the
    last line kept is complete.
    """

    typed: str  # the cursor's line up to the cursor

    def find(self, text: str) -> int | None:
        first_break = text.find("\n")
        head = text if first_break < 0 else text[:first_break]
        if head.strip():  # the suggestion goes on with the cursor's line
            lines, offset = self.typed + text, -len(self.typed)
        elif first_break >= 0:  # the cursor's line is done: the next line sets the block
            lines, offset = text[first_break + 1 :], first_break + 1
        else:
            return None
        block: int | None = None
        for match in _LINE_START.finditer(lines):
            indent = indent_width(match.group(1))
            if block is None:
                block = indent
            elif indent < block:
                return match.start(1) + offset
        return None

    def held(self, text: str) -> int:
        newline = text.rfind("\n")
        if newline < 0 or text[newline + 1 :].strip(" \t"):
            return 0
        return len(text) - newline


def indent_width(whitespace: str) -> int:
    return len(whitespace.expandtabs(4))


def cursor_line(prompt: str) -> str:
    """The cursor's line up to the cursor."""
    return prompt[prompt.rfind("\n") + 1 :]


def stop_rules(job: CompletionJob, options: StopOptions | None = None) -> list[StopMatcher]:
    """The request's stop strings, plus, when it fills a hole, the editor-like stops."""
    options = options or StopOptions()
    rules: list[StopMatcher] = [StopRule(stop) for stop in job.stop if stop]
    if not job.suffix:
        return rules
    language = rules_for(job.language, job.path)
    if options.language_stop_words and "\n" not in job.stop:
        # A multi-line suggestion: end it at the next definition.
        rules.extend(StopRule(word, keep=1) for word in language.stop_words)
    if options.suffix_repeat_stop and (repeat := suffix_repeat_rule(job.suffix)) is not None:
        rules.append(repeat)
    prompt = job.prompts[0] if job.prompts else ""
    if options.dedent_stop and language.dedent_stop and isinstance(prompt, str):
        rules.append(DedentRule(cursor_line(prompt)))
    return rules


class StopAssembler(Generic[T]):
    """Feeds (text, payload) pieces through; returns the pieces safe to emit."""

    def __init__(self, stops: Sequence[str | StopMatcher]) -> None:
        matchers = [StopRule(stop) if isinstance(stop, str) else stop for stop in stops]
        self._matchers = [m for m in matchers if not isinstance(m, StopRule) or m.text]
        self._pending: list[Piece[T]] = []
        self._emitted = ""
        self.stopped = False

    def push(self, text: str, payload: T) -> list[Piece[T]]:
        if self.stopped:
            return []
        self._pending.append(Piece(text, payload))
        pending = "".join(piece.text for piece in self._pending)
        whole = self._emitted + pending
        hit = self._first_stop(whole)
        if hit is not None:
            self.stopped = True
            return self._take(max(hit - len(self._emitted), 0), cut_straddling=True)
        held = max((matcher.held(whole) for matcher in self._matchers), default=0)
        taken = self._take(len(pending) - min(held, len(pending)), cut_straddling=False)
        self._emitted += "".join(piece.text for piece in taken)
        return taken

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
