"""The completion service: a CompletionJob in, choices (whole or as deltas) out."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass

from fauxpilot.completion.choice_decoder import ChoiceDecoder
from fauxpilot.completion.fim import (
    PreparedPrompt,
    build_fim,
    build_from_tokens,
    build_plain,
    fim_tokens,
    left_to_right_part,
)
from fauxpilot.completion.merge import gather_or_cancel, merge_streams
from fauxpilot.completion.suffix_rank import pick_by_suffix, suffix_window
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
            family = self._engine.model.family
            # A FIM token is never part of a suggestion; a model that writes one is done.
            fim_texts = (family.fim_prefix, family.fim_suffix, family.fim_middle)
            family_ids = {
                token_id
                for text in (*family.end_tokens, *fim_texts)
                if text is not None and (token_id := tokenizer.special_token_id(text)) is not None
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
        # An empty suffix (the cursor at the end of the file) is still a FIM request when
        # the server is told so; no suffix at all is a plain prompt (HumanEval, chat).
        has_suffix = job.suffix is not None if self._options.fim_empty_suffix else bool(job.suffix)
        wants_fim = has_suffix or bool(job.context_files)
        fim = fim_tokens(tokenizer, self._engine.model.family) if wants_fim else None
        prepared = []
        for prompt in job.prompts:
            if isinstance(prompt, list):
                _check_token_ids(prompt, self._engine.model.vocab_size)
                prepared.append(build_from_tokens(tokenizer, prompt, context, job.max_tokens))
            elif fim is not None:
                fim_prompt = build_fim(
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
                if self._ranks_by_suffix(job, prompt):
                    left = left_to_right_part(fim_prompt, fim)
                    fim_prompt = dataclasses.replace(fim_prompt, left_to_right=left)
                prepared.append(fim_prompt)
            else:
                text = prompt + (job.middle or "")
                prepared.append(build_plain(tokenizer, text, context, job.max_tokens))
        return prepared

    def _ranks_by_suffix(self, job: CompletionJob, prompt: str) -> bool:
        """Whether this FIM prompt's suggestion is picked from a FIM and a left-to-right one."""
        return (
            self._options.suffix_rank_lines > 0
            and (self._options.suffix_rank_multiline or "\n" in job.stop)
            and bool(prompt)
            and bool((job.suffix or "").strip())
            and not job.context_files
            and job.middle is None
            and job.n == 1
            and job.best_of == 1
            and not job.echo
        )

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
            _as_one_delta(functools.partial(self._suffix_ranked, job, prompt, prompt_index, usage))
            if prompt.left_to_right is not None
            else self._choice_deltas(
                job, prompt, prompt_index * job.n + choice, usage, job.logprobs
            )
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
        groups = await gather_or_cancel(
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
        if prompt.left_to_right is not None:
            return [await self._suffix_ranked(job, prompt, prompt_index, usage)]
        candidates = await gather_or_cancel(
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

    async def _suffix_ranked(
        self, job: CompletionJob, prompt: PreparedPrompt, index: int, usage: Usage
    ) -> Choice:
        """The FIM and the left-to-right suggestion, whichever leads better into the suffix."""
        left = prompt.left_to_right
        assert left is not None
        logprobs = job.logprobs  # ranking runs only where n == best_of == 1
        prompt_read = asyncio.Event()
        fim_task = asyncio.ensure_future(
            _collect(
                self._choice_deltas(
                    job, prompt, index, usage, logprobs, remember=False, on_read=prompt_read.set
                )
            )
        )
        try:
            # The left-to-right prompt is the start of the FIM prompt: sent once that is
            # read, it takes the code before the cursor from the FIM slot's cache.
            await _first_done(prompt_read.wait(), fim_task)
            if fim_task.done():
                fim_task.result()  # raises the FIM request's error before another starts
            left_choice = await _collect(
                self._choice_deltas(job, left, index, usage, logprobs, remember=False, tag="ltr")
            )
            fim_choice = await fim_task
        finally:
            fim_task.cancel()
        window = suffix_window(job.suffix or "", self._options.suffix_rank_lines)
        candidates = [fim_choice.text, left_choice.text]
        best = await pick_by_suffix(
            self._engine, f"{job.request_id}-{index}", left, candidates, window, job.cache_scope
        )
        chosen = (fim_choice, left_choice)[best]
        chosen.index = index
        if self._options.typeahead:
            self._typeahead.remember(job, chosen.text, chosen.finish_reason or "length")
        return chosen

    async def _choice_deltas(
        self,
        job: CompletionJob,
        prompt: PreparedPrompt,
        index: int,
        usage: Usage,
        logprobs: int | None,
        *,
        remember: bool = True,
        tag: str = "",
        on_read: Callable[[], None] | None = None,
    ) -> AsyncGenerator[ChoiceDelta, None]:
        request = self._generation_request(job, prompt, index, logprobs, tag)
        decoder = ChoiceDecoder(job, index, logprobs is not None, self._options.stops)
        if job.echo and not request.prompt_logprobs:
            yield decoder.echo(prompt.text, [])
        finish_reason = "length"
        async with aclosing(self._engine.generate(request)) as events:
            async for event in events:
                if isinstance(event, PromptEvent):
                    usage.cached_tokens += event.cached_tokens
                    if on_read is not None:
                        on_read()
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
        if self._options.typeahead and remember:
            self._typeahead.remember(job, decoder.text, finish_reason)
        yield last

    def _generation_request(
        self,
        job: CompletionJob,
        prompt: PreparedPrompt,
        index: int,
        logprobs: int | None,
        tag: str = "",
    ) -> GenerationRequest:
        sampling = job.sampling
        if sampling.seed is not None and index:
            sampling = dataclasses.replace(sampling, seed=sampling.seed + index)
        return GenerationRequest(
            request_id=f"{job.request_id}-{index}{tag}",
            prompt_tokens=prompt.tokens,
            max_tokens=job.max_tokens,
            sampling=sampling,
            stop_token_ids=self._stop_token_ids(),
            top_logprobs=logprobs,
            prompt_logprobs=job.echo and logprobs is not None,
            cache_scope=job.cache_scope,
        )


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


async def _as_one_delta(
    make: Callable[[], Awaitable[Choice]],
) -> AsyncGenerator[ChoiceDelta, None]:
    """A choice known only when whole (a ranked suggestion) streams as one delta."""
    choice = await make()
    yield ChoiceDelta(choice.index, choice.text, choice.logprobs, choice.finish_reason)


async def _first_done(*waits: Awaitable[object]) -> None:
    """Wait until one of `waits` is done; the others are cancelled unless they are tasks."""
    futures = [asyncio.ensure_future(wait) for wait in waits]
    _, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    for future, wait in zip(futures, waits, strict=True):
        if future in pending and future is not wait:
            future.cancel()


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
