"""One choice's decoding: token bytes to text, stop strings, logprob entries with offsets."""

from __future__ import annotations

import dataclasses

from fauxpilot.completion.detok import Utf8Stream, piece_text
from fauxpilot.completion.stopping import Piece, StopAssembler, stop_rules
from fauxpilot.completion.types import ChoiceDelta, CompletionJob, LogprobEntry, StopOptions
from fauxpilot.engine.base import TokenEvent


class ChoiceDecoder:
    """Per-choice state: bytes -> text, stop strings, logprob entries with offsets."""

    def __init__(
        self,
        job: CompletionJob,
        index: int,
        with_logprobs: bool,
        stop_options: StopOptions | None = None,
        healed: bytes = b"",
    ) -> None:
        rules = stop_rules(job, stop_options)
        self.stops: StopAssembler[LogprobEntry | None] = StopAssembler(rules)
        self._utf8 = Utf8Stream()
        self._prompt_utf8 = Utf8Stream()
        self._with_logprobs = with_logprobs
        self.echo_pending = job.echo
        self.prompt_entries: list[LogprobEntry] = []
        self._offset = 0
        self._index = index
        self._texts: list[str] = []
        # Bytes the first token starts with that the client has already (token healing).
        self._healed = healed

    @property
    def text(self) -> str:
        """The completion text emitted so far (without echo)."""
        return "".join(self._texts)

    def echo(self, text: str, entries: list[LogprobEntry]) -> ChoiceDelta:
        self.echo_pending = False
        self._offset = len(text)
        logprobs = entries if self._with_logprobs else None
        return ChoiceDelta(self._index, text, logprobs, None)

    def prompt_event(self, event: TokenEvent) -> None:
        text = self._prompt_utf8.push(event.piece)
        offset = sum(len(entry.text) for entry in self.prompt_entries)
        self.prompt_entries.append(_entry(text, event, offset))

    def token(self, event: TokenEvent) -> ChoiceDelta | None:
        piece = event.piece
        if self._healed:
            if piece.startswith(self._healed):
                piece = piece[len(self._healed) :]
            self._healed = b""
        text = self._utf8.push(piece)
        entry = _entry(text, event, 0) if self._with_logprobs else None
        return self._delta(self.stops.push(text, entry))

    def finish(self, reason: str) -> ChoiceDelta:
        pieces: list[Piece[LogprobEntry | None]] = []
        if not self.stops.stopped:
            tail = self._utf8.flush()
            if tail:
                pieces += self.stops.push(tail, None)
            pieces += self.stops.flush()
        delta = self._delta(pieces) or ChoiceDelta(
            self._index, "", [] if self._with_logprobs else None
        )
        delta.finish_reason = reason
        return delta

    def _delta(self, pieces: list[Piece[LogprobEntry | None]]) -> ChoiceDelta | None:
        if not pieces:
            return None
        entries: list[LogprobEntry] = []
        for piece in pieces:
            if piece.payload is not None:
                entries.append(
                    dataclasses.replace(piece.payload, text=piece.text, offset=self._offset)
                )
            self._offset += len(piece.text)
        text = "".join(piece.text for piece in pieces)
        self._texts.append(text)
        return ChoiceDelta(self._index, text, entries if self._with_logprobs else None)


def _entry(text: str, event: TokenEvent, offset: int) -> LogprobEntry:
    top = {piece_text(alt.piece): alt.logprob for alt in event.top}
    return LogprobEntry(text=text, logprob=event.logprob, top=top, offset=offset)
