"""Choosing between a fill-in-the-middle and a left-to-right suggestion by the code after it.

A small model's FIM suggestion is often worse than what it writes left to right: it writes
the line that follows the cursor, or a later line of the function. The left-to-right
suggestion ignores the code after the cursor. Both are generated; the one kept is the one
that makes the code after the cursor most likely when the model reads on from it:
P(candidate | before) * P(after | before, candidate), i.e. the candidate the model finds
likeliest given both sides.

The left-to-right prompt is the FIM prompt cut before its suffix section (`<prefix-token>`
and the code before the cursor), so every request after the FIM one finds that code in a
slot's KV cache, or has it copied from the FIM slot, instead of reading it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing

from fauxpilot.completion.choices import ChoiceGenerator, ChoiceRun, collect
from fauxpilot.completion.fim import PreparedPrompt
from fauxpilot.completion.merge import gather_or_cancel
from fauxpilot.completion.typeahead import TypeaheadCache
from fauxpilot.completion.types import Choice, ChoiceDelta, CompletionJob, Usage
from fauxpilot.engine.base import Engine, GenerationRequest, TokenEvent, common_prefix_length

log = logging.getLogger(__name__)


def suffix_window(suffix: str, lines: int) -> str:
    """The suffix up to the end of its `lines`-th line after the cursor's line."""
    parts = suffix.split("\n")
    return "\n".join(parts[: lines + 1])


def continuation_prompts(
    engine: Engine, left: PreparedPrompt, candidates: list[str], window: str
) -> tuple[list[list[int]], int]:
    """Token prompts `before + candidate + window` and the index their scores start at.

    Scores start where the prompts first differ from each other (never before the end of
    the left-to-right prompt, where a candidate may merge with the last token before the
    cursor): the tokens they share add the same to every score, so they need no logits.
    """
    tokenizer = engine.tokenizer
    head = left.tokens[: left.text_start]
    limit = engine.model.context_length - 1
    prompts = [
        (head + tokenizer.tokenize(left.text + candidate + window, special=False))[:limit]
        for candidate in candidates
    ]
    start = min(common_prefix_length(prompt, left.tokens) for prompt in prompts)
    shared = min(common_prefix_length(prompts[0], prompt) for prompt in prompts[1:])
    return prompts, max(start, shared, 1)


async def continuation_logprob(
    engine: Engine, request_id: str, prompt: list[int], start: int, cache_scope: str = ""
) -> float:
    """The log-probability of prompt[start:] given prompt[:start]."""
    request = GenerationRequest(
        request_id=request_id,
        prompt_tokens=prompt,
        max_tokens=0,
        prompt_logprobs=True,
        prompt_logprobs_from=start,
        cache_scope=cache_scope,
    )
    total = 0.0
    async with aclosing(engine.generate(request)) as events:
        async for event in events:
            if isinstance(event, TokenEvent) and event.is_prompt and event.logprob is not None:
                total += event.logprob
    return total


async def pick_by_suffix(
    engine: Engine,
    request_id: str,
    left: PreparedPrompt,
    candidates: list[str],
    window: str,
    cache_scope: str = "",
) -> int:
    """The index of the candidate that best leads into `window`; the first one on a tie."""
    if len(set(candidates)) == 1:
        return 0
    prompts, start = continuation_prompts(engine, left, candidates, window)
    # Side by side: the code before the cursor is cached in the slots that generated the
    # candidates (or copied from them), so each reads only its candidate and the window.
    scores = await gather_or_cancel(
        *(
            continuation_logprob(engine, f"{request_id}-rank{number}", prompt, start, cache_scope)
            for number, prompt in enumerate(prompts)
        )
    )
    best = max(range(len(candidates)), key=lambda index: (scores[index], -index))
    log.debug("suffix ranking: scores %s, kept candidate %d", scores, best)
    return best


class RankedChoice:
    """The strategy for a FIM prompt with a left-to-right alternative (`left_to_right`):
    one suggestion, the FIM or the left-to-right one, whichever leads better into the code
    after the cursor. Known only when both are whole, so it streams as one delta."""

    def __init__(
        self,
        engine: Engine,
        generator: ChoiceGenerator,
        rank_lines: int,
        typeahead: TypeaheadCache | None = None,
    ) -> None:
        self._engine = engine
        self._generator = generator
        self._rank_lines = rank_lines
        self._typeahead = typeahead

    def streams(
        self, job: CompletionJob, prompt: PreparedPrompt, prompt_index: int, usage: Usage
    ) -> list[AsyncGenerator[ChoiceDelta, None]]:
        return [self._as_one_delta(job, prompt, prompt_index, usage)]

    async def choices(
        self, job: CompletionJob, prompt: PreparedPrompt, prompt_index: int, usage: Usage
    ) -> list[Choice]:
        return [await self.choice(job, prompt, prompt_index, usage)]

    async def choice(
        self, job: CompletionJob, prompt: PreparedPrompt, index: int, usage: Usage
    ) -> Choice:
        left = prompt.left_to_right
        assert left is not None
        logprobs = job.logprobs  # ranking runs only where n == best_of == 1
        prompt_read = asyncio.Event()
        fim_run = ChoiceRun(job, prompt, index, logprobs, on_prompt_read=prompt_read.set)
        fim_task = asyncio.ensure_future(collect(self._generator.deltas(fim_run, usage)))
        try:
            # The left-to-right prompt is the start of the FIM prompt: sent once that is
            # read, it takes the code before the cursor from the FIM slot's cache.
            await _first_done(prompt_read.wait(), fim_task)
            if fim_task.done():
                fim_task.result()  # raises the FIM request's error before another starts
            left_run = ChoiceRun(job, left, index, logprobs, tag="ltr")
            left_choice = await collect(self._generator.deltas(left_run, usage))
            fim_choice = await fim_task
        finally:
            fim_task.cancel()
        window = suffix_window(job.suffix or "", self._rank_lines)
        candidates = [fim_choice.text, left_choice.text]
        best = await pick_by_suffix(
            self._engine, f"{job.request_id}-{index}", left, candidates, window, job.cache_scope
        )
        chosen = (fim_choice, left_choice)[best]
        chosen.index = index
        if self._typeahead is not None:
            self._typeahead.remember(job, chosen.text, chosen.finish_reason or "length")
        return chosen

    async def _as_one_delta(
        self, job: CompletionJob, prompt: PreparedPrompt, index: int, usage: Usage
    ) -> AsyncGenerator[ChoiceDelta, None]:
        choice = await self.choice(job, prompt, index, usage)
        yield ChoiceDelta(choice.index, choice.text, choice.logprobs, choice.finish_reason)


async def _first_done(*waits: Awaitable[object]) -> None:
    """Wait until one of `waits` is done; the others are cancelled unless they are tasks."""
    futures = [asyncio.ensure_future(wait) for wait in waits]
    _, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    for future, wait in zip(futures, waits, strict=True):
        if future in pending and future is not wait:
            future.cancel()
