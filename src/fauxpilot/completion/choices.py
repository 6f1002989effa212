"""Generating choices: one choice's run on the engine, and the plain strategy (n choices, or
the n likeliest of best_of) that every request without suffix ranking uses."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass

from fauxpilot.completion.choice_decoder import ChoiceDecoder
from fauxpilot.completion.fim import PreparedPrompt
from fauxpilot.completion.merge import gather_or_cancel
from fauxpilot.completion.typeahead import TypeaheadCache
from fauxpilot.completion.types import (
    Choice,
    ChoiceDelta,
    CompletionJob,
    CompletionOptions,
    LogprobEntry,
    Usage,
)
from fauxpilot.engine.base import Engine, FinishEvent, GenerationRequest, PromptEvent

log = logging.getLogger(__name__)

SESSION_TOKENS = 64  # prompt tokens a session key is made from


@dataclass(frozen=True)
class ChoiceRun:
    """One choice to generate: which prompt, its index among the request's choices."""

    job: CompletionJob
    prompt: PreparedPrompt
    index: int
    logprobs: int | None  # top log-probabilities to keep (None: none)
    tag: str = ""  # told apart from another run of the same index (ranking's "ltr")
    on_prompt_read: Callable[[], None] | None = None  # the engine has read the prompt


class ChoiceGenerator:
    """Runs one choice on the engine: its request, its tokens decoded to text deltas with
    the stops applied, its usage counted. Remembers nothing between runs but the model's
    end tokens."""

    def __init__(self, engine: Engine, options: CompletionOptions) -> None:
        self._engine = engine
        self._options = options
        self._end_tokens: frozenset[int] | None = None  # known once the model has loaded

    async def deltas(self, run: ChoiceRun, usage: Usage) -> AsyncGenerator[ChoiceDelta, None]:
        """The choice's text as it is generated; the last delta has its finish reason."""
        job, prompt = run.job, run.prompt
        request = self._generation_request(run)
        decoder = ChoiceDecoder(
            job, run.index, run.logprobs is not None, self._options.stops, prompt.healed
        )
        if job.echo and not request.prompt_logprobs:
            yield decoder.echo(prompt.text, [])
        finish_reason = "length"
        async with aclosing(self._engine.generate(request)) as events:
            async for event in events:
                if isinstance(event, PromptEvent):
                    usage.cached_tokens += event.cached_tokens
                    if run.on_prompt_read is not None:
                        run.on_prompt_read()
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
        if self._options.log_content:
            log.info("content: prompt=%r completion=%r", prompt.text, decoder.text)
        yield decoder.finish(finish_reason)

    def _generation_request(self, run: ChoiceRun) -> GenerationRequest:
        job = run.job
        sampling = job.sampling
        if sampling.seed is not None and run.index:
            sampling = dataclasses.replace(sampling, seed=sampling.seed + run.index)
        return GenerationRequest(
            request_id=f"{job.request_id}-{run.index}{run.tag}",
            prompt_tokens=run.prompt.tokens,
            max_tokens=job.max_tokens,
            sampling=sampling,
            stop_token_ids=self._stop_token_ids(),
            top_logprobs=run.logprobs,
            prompt_logprobs=job.echo and run.logprobs is not None,
            cache_scope=job.cache_scope,
            session_key=session_key(job, run.prompt),
            model=job.model,
            first_token_prefix=run.prompt.healed,
        )

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


def session_key(job: CompletionJob, prompt: PreparedPrompt) -> str:
    """The same for every keystroke in one file of one key's editor: the cache scope, the
    path when the client names it, and the prompt's first tokens (the file's start), which
    typing further down does not change."""
    seed = f"{job.cache_scope}\0{job.path or ''}\0{prompt.tokens[:SESSION_TOKENS]}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


class PlainChoices:
    """The n choices of a prompt, streamed side by side; or, whole, the n likeliest of
    best_of candidates. Each finished choice is remembered for typeahead."""

    def __init__(self, generator: ChoiceGenerator, typeahead: TypeaheadCache | None = None) -> None:
        self._generator = generator
        self._typeahead = typeahead

    def streams(
        self, job: CompletionJob, prompt: PreparedPrompt, prompt_index: int, usage: Usage
    ) -> list[AsyncGenerator[ChoiceDelta, None]]:
        return [
            self._remembered(
                ChoiceRun(job, prompt, prompt_index * job.n + choice, job.logprobs), usage
            )
            for choice in range(job.n)
        ]

    async def choices(
        self, job: CompletionJob, prompt: PreparedPrompt, prompt_index: int, usage: Usage
    ) -> list[Choice]:
        # best_of > n: candidates are scored by their log-probability, kept or not.
        logprobs = job.logprobs if job.best_of == job.n else max(job.logprobs or 0, 0)
        runs = [
            ChoiceRun(job, prompt, prompt_index * job.best_of + number, logprobs)
            for number in range(job.best_of)
        ]
        candidates = await gather_or_cancel(
            *(collect(self._remembered(run, usage)) for run in runs)
        )
        if job.best_of > job.n:
            candidates = sorted(candidates, key=lambda c: c.cumulative_logprob, reverse=True)
        kept = candidates[: job.n]
        for offset, choice in enumerate(kept):
            choice.index = prompt_index * job.n + offset
            if job.logprobs is None:
                choice.logprobs = None
        return kept

    async def _remembered(self, run: ChoiceRun, usage: Usage) -> AsyncGenerator[ChoiceDelta, None]:
        texts: list[str] = []
        async with aclosing(self._generator.deltas(run, usage)) as deltas:
            async for delta in deltas:
                texts.append(delta.text)
                if delta.finish_reason is not None and self._typeahead is not None:
                    self._typeahead.remember(run.job, "".join(texts), delta.finish_reason)
                yield delta


async def collect(deltas: AsyncIterator[ChoiceDelta]) -> Choice:
    """A choice's deltas joined into the whole choice."""
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
