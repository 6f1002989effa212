"""The completion service: a CompletionJob in, choices (whole or as deltas) out."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from fauxpilot.completion.detok import Utf8Stream, piece_text
from fauxpilot.completion.fim import (
    PreparedPrompt,
    build_fim,
    build_from_tokens,
    build_plain,
    fim_tokens,
)
from fauxpilot.completion.merge import merge_streams
from fauxpilot.completion.stopping import Piece, StopAssembler, stop_rules
from fauxpilot.completion.typeahead import TypeaheadCache
from fauxpilot.completion.types import (
    Choice,
    ChoiceDelta,
    CompletionJob,
    CompletionOptions,
    CompletionResult,
    InvalidRequestError,
    LimitExceededError,
    LogprobEntry,
    Usage,
)
from fauxpilot.engine.base import (
    Engine,
    FinishEvent,
    GenerationRequest,
    PromptEvent,
    SamplingParams,
    TokenEvent,
)

log = logging.getLogger(__name__)


class CompletionService:
    def __init__(self, engine: Engine, options: CompletionOptions | None = None) -> None:
        self._engine = engine
        self._options = options or CompletionOptions()
        self._typeahead = TypeaheadCache()
        self._end_tokens: frozenset[int] | None = None  # known once the model has loaded

    def _stop_token_ids(self) -> frozenset[int]:
        if self._end_tokens is None:
            tokenizer = self._engine.tokenizer
            family_ids = {
                token_id
                for text in self._engine.model.family.end_tokens
                if (token_id := tokenizer.special_token_id(text)) is not None
            }
            self._end_tokens = tokenizer.end_token_ids | family_ids
        return self._end_tokens

    def prepare(self, job: CompletionJob) -> list[PreparedPrompt]:
        """Token prompts for every prompt of the job.

        Raises PromptTooLongError, or InvalidRequestError for what the server cannot run.
        """
        self._check_limits(job)
        tokenizer = self._engine.tokenizer
        context = min(
            self._engine.model.context_length, self._options.max_prompt_tokens + job.max_tokens
        )
        wants_fim = bool(job.suffix or job.context_files)
        fim = fim_tokens(tokenizer, self._engine.model.family) if wants_fim else None
        prepared = []
        for prompt in job.prompts:
            if isinstance(prompt, list):
                _check_token_ids(prompt, self._engine.model.vocab_size)
                prepared.append(build_from_tokens(tokenizer, prompt, context, job.max_tokens))
            elif fim is not None:
                prepared.append(
                    build_fim(
                        tokenizer,
                        fim,
                        prompt,
                        job.suffix or "",
                        context,
                        job.max_tokens,
                        line_in_middle=self._options.fim_line_in_middle,
                        context_files=job.context_files,
                        suffix_share=self._options.suffix_share,
                        context_share=self._options.context_share,
                        middle=job.middle,
                    )
                )
            else:
                text = prompt + (job.middle or "")
                prepared.append(build_plain(tokenizer, text, context, job.max_tokens))
        return prepared

    def _check_limits(self, job: CompletionJob) -> None:
        _check_supported(job.sampling, self._engine.model.unsupported_sampling)
        limits = self._options
        if job.max_tokens > limits.max_tokens_limit:
            raise LimitExceededError(
                f"max_tokens is {job.max_tokens}; this server allows at most "
                f"{limits.max_tokens_limit}.",
                "max_tokens",
            )
        sequences = len(job.prompts) * max(job.n, job.best_of)
        if sequences > limits.max_choices:
            raise LimitExceededError(
                f"This request would generate {sequences} completions (prompts times n or "
                f"best_of); this server allows at most {limits.max_choices} per request.",
                "n",
            )

    def stream(
        self, job: CompletionJob, prepared: list[PreparedPrompt], usage: Usage
    ) -> AsyncIterator[ChoiceDelta]:
        """Deltas of all n choices of all prompts, interleaved as they are generated."""
        usage.prompt_tokens += sum(len(prompt.tokens) for prompt in prepared)
        hit = self._typeahead_hit(job)
        if hit is not None:
            usage.completion_tokens += hit.completion_tokens
            return _single(hit.delta)
        streams = [
            self._choice_deltas(job, prompt, prompt_index * job.n + choice, usage, job.logprobs)
            for prompt_index, prompt in enumerate(prepared)
            for choice in range(job.n)
        ]
        return merge_streams(streams)

    async def complete(
        self, job: CompletionJob, prepared: list[PreparedPrompt]
    ) -> CompletionResult:
        usage = Usage(prompt_tokens=sum(len(prompt.tokens) for prompt in prepared))
        hit = self._typeahead_hit(job)
        if hit is not None:
            usage.completion_tokens = hit.completion_tokens
            choice = Choice(0, hit.delta.text, None, hit.delta.finish_reason)
            return CompletionResult(choices=[choice], usage=usage)
        # best_of > n: generate best_of candidates, keep the n most likely.
        scored = job.logprobs if job.best_of == job.n else max(job.logprobs or 0, 0)
        groups = await asyncio.gather(
            *(
                self._candidates(job, prompt, prompt_index, usage, scored)
                for prompt_index, prompt in enumerate(prepared)
            )
        )
        choices = [choice for group in groups for choice in group]
        return CompletionResult(choices=choices, usage=usage)

    def _typeahead_hit(self, job: CompletionJob) -> _Served | None:
        if not self._options.typeahead:
            return None
        hit = self._typeahead.lookup(job)
        if hit is None:
            return None
        tokens = len(self._engine.tokenizer.tokenize(hit.text, special=False))
        return _Served(ChoiceDelta(0, hit.text, None, hit.finish_reason), tokens)

    async def _candidates(
        self,
        job: CompletionJob,
        prompt: PreparedPrompt,
        prompt_index: int,
        usage: Usage,
        logprobs: int | None,
    ) -> list[Choice]:
        candidates = await asyncio.gather(
            *(
                _collect(
                    self._choice_deltas(
                        job, prompt, prompt_index * job.best_of + number, usage, logprobs
                    )
                )
                for number in range(job.best_of)
            )
        )
        if job.best_of > job.n:
            candidates = sorted(candidates, key=lambda c: c.cumulative_logprob, reverse=True)
        kept = candidates[: job.n]
        for offset, choice in enumerate(kept):
            choice.index = prompt_index * job.n + offset
            if job.logprobs is None:
                choice.logprobs = None
        return kept

    async def _choice_deltas(
        self,
        job: CompletionJob,
        prompt: PreparedPrompt,
        index: int,
        usage: Usage,
        logprobs: int | None,
    ) -> AsyncGenerator[ChoiceDelta, None]:
        request = self._generation_request(job, prompt, index, logprobs)
        decoder = _ChoiceDecoder(job, index, logprobs is not None)
        if job.echo and not request.prompt_logprobs:
            yield decoder.echo(prompt.text, [])
        finish_reason = "length"
        async with aclosing(self._engine.generate(request)) as events:
            async for event in events:
                if isinstance(event, PromptEvent):
                    usage.cached_tokens += event.cached_tokens
                    continue
                if isinstance(event, FinishEvent):
                    finish_reason = event.reason
                    break
                if event.is_prompt:
                    decoder.prompt_event(event)
                    continue
                if decoder.echo_pending:
                    yield decoder.echo(prompt.text, decoder.prompt_entries)
                usage.completion_tokens += 1
                delta = decoder.token(event)
                if delta is not None:
                    yield delta
                if decoder.stops.stopped:
                    finish_reason = "stop"
                    break
        if decoder.echo_pending:
            yield decoder.echo(prompt.text, decoder.prompt_entries)
        last = decoder.finish(finish_reason)
        if self._options.log_content:
            log.info("content: prompt=%r completion=%r", prompt.text, decoder.text)
        if self._options.typeahead:
            self._typeahead.remember(job, decoder.text, finish_reason)
        yield last

    def _generation_request(
        self, job: CompletionJob, prompt: PreparedPrompt, index: int, logprobs: int | None
    ) -> GenerationRequest:
        sampling = job.sampling
        if sampling.seed is not None and index:
            sampling = dataclasses.replace(sampling, seed=sampling.seed + index)
        return GenerationRequest(
            request_id=f"{job.request_id}-{index}",
            prompt_tokens=prompt.tokens,
            max_tokens=job.max_tokens,
            sampling=sampling,
            stop_token_ids=self._stop_token_ids(),
            top_logprobs=logprobs,
            prompt_logprobs=job.echo and logprobs is not None,
        )


class _ChoiceDecoder:
    """Per-choice state: bytes -> text, stop strings, logprob entries with offsets."""

    def __init__(self, job: CompletionJob, index: int, with_logprobs: bool) -> None:
        self.stops: StopAssembler[LogprobEntry | None] = StopAssembler(stop_rules(job))
        self._utf8 = Utf8Stream()
        self._prompt_utf8 = Utf8Stream()
        self._with_logprobs = with_logprobs
        self.echo_pending = job.echo
        self.prompt_entries: list[LogprobEntry] = []
        self._offset = 0
        self._index = index
        self._texts: list[str] = []

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
        text = self._utf8.push(event.piece)
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


@dataclass(frozen=True)
class _Served:
    delta: ChoiceDelta
    completion_tokens: int


def _check_supported(sampling: SamplingParams, unsupported: frozenset[str]) -> None:
    used = {
        "logit_bias": bool(sampling.logit_bias),
        "presence_penalty": sampling.presence_penalty != 0.0,
        "frequency_penalty": sampling.frequency_penalty != 0.0,
    }
    for name, is_used in used.items():
        if is_used and name in unsupported:
            raise InvalidRequestError(
                f"'{name}' is not supported by the engine serving this model; leave it out.",
                name,
            )


def _check_token_ids(tokens: list[int], vocab_size: int) -> None:
    if not tokens:
        raise InvalidRequestError("A token-id prompt must not be empty.", "prompt")
    bad = next((token for token in tokens if not 0 <= token < vocab_size), None)
    if bad is not None:
        raise InvalidRequestError(
            f"Token id {bad} in the prompt is outside the model's vocabulary "
            f"(0 to {vocab_size - 1}).",
            "prompt",
        )


async def _single(delta: ChoiceDelta) -> AsyncIterator[ChoiceDelta]:
    yield delta


async def _collect(deltas: AsyncIterator[ChoiceDelta]) -> Choice:
    choice = Choice(index=0)
    texts: list[str] = []
    entries: list[LogprobEntry] = []
    with_logprobs = False
    async for delta in deltas:
        texts.append(delta.text)
        if delta.logprobs is not None:
            with_logprobs = True
            entries.extend(delta.logprobs)
        if delta.finish_reason is not None:
            choice.finish_reason = delta.finish_reason
    choice.text = "".join(texts)
    choice.logprobs = entries if with_logprobs else None
    choice.cumulative_logprob = sum(entry.logprob or 0.0 for entry in entries)
    return choice
