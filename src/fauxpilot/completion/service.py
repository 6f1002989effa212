"""The completion service: a CompletionJob in, choices (whole or as deltas) out."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from fauxpilot.completion.anchors import AnchorKey, FimAnchors
from fauxpilot.completion.choices import ChoiceGenerator, PlainChoices
from fauxpilot.completion.fim import (
    FimTokens,
    PreparedPrompt,
    build_fim,
    build_from_tokens,
    build_plain,
    fim_tokens,
    left_to_right_part,
)
from fauxpilot.completion.merge import gather_or_cancel, merge_streams
from fauxpilot.completion.suffix_rank import RankedChoice
from fauxpilot.completion.typeahead import TypeaheadCache
from fauxpilot.completion.types import (
    Choice,
    ChoiceDelta,
    CompletionJob,
    CompletionOptions,
    CompletionResult,
    InvalidRequestError,
    LimitExceededError,
    Usage,
)
from fauxpilot.engine.base import Engine, SamplingParams, prompt_problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedJob:
    """A job whose prompts are tokens, checked and trimmed to fit: ready to run."""

    job: CompletionJob
    prompts: list[PreparedPrompt]

    @property
    def prompt_tokens(self) -> int:
        return sum(len(prompt.tokens) for prompt in self.prompts)

    @property
    def trimmed(self) -> bool:
        return any(prompt.trimmed for prompt in self.prompts)


class CompletionStream:
    """The deltas of a streamed completion, and the usage they add up to (whole once the
    stream is done)."""

    def __init__(self, deltas: AsyncIterator[ChoiceDelta], usage: Usage) -> None:
        self._deltas = deltas
        self.usage = usage

    def __aiter__(self) -> AsyncIterator[ChoiceDelta]:
        return self._deltas


class ChoiceStrategy(Protocol):
    """How a prompt's choices are generated (choices.PlainChoices, suffix_rank.RankedChoice)."""

    def streams(
        self, job: CompletionJob, prompt: PreparedPrompt, prompt_index: int, usage: Usage
    ) -> list[AsyncGenerator[ChoiceDelta, None]]: ...

    async def choices(
        self, job: CompletionJob, prompt: PreparedPrompt, prompt_index: int, usage: Usage
    ) -> list[Choice]: ...


class CompletionService:
    """Turns a job into prompts and the prompts into choices.

    Two steps, because a request's mistakes must be found before a streamed answer has sent
    its 200 status line: `prepare` builds and checks the token prompts (raising for a client
    mistake), `stream` or `complete` then only runs them. Owns the typeahead memory and picks
    each prompt's strategy (plain, or ranked by the suffix). Never sees HTTP, and never
    decodes itself: the engine does.
    """

    def __init__(self, engine: Engine, options: CompletionOptions | None = None) -> None:
        self._engine = engine
        self._options = options or CompletionOptions()
        self._typeahead = TypeaheadCache() if self._options.typeahead else None
        self._typeahead_hits = 0
        anchoring = self._options.fim_anchor_chars > 0
        self._anchors = FimAnchors(self._options.fim_anchor_chars) if anchoring else None
        generator = ChoiceGenerator(engine, self._options)
        self._plain = PlainChoices(generator, self._typeahead)
        self._ranked = RankedChoice(
            engine, generator, self._options.suffix_rank_lines, self._typeahead
        )

    @property
    def typeahead_hits(self) -> int:
        """Requests answered from the last suggestion, without the model, so far."""
        return self._typeahead_hits

    @property
    def options(self) -> CompletionOptions:
        return self._options

    def prepare(self, job: CompletionJob) -> PreparedJob:
        """The job with a token prompt for each of its prompts (blocking: run it off the
        event loop).

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
                fim_prompt = self._fim_prompt(job, prompt, fim, context)
                if self._ranks_by_suffix(job, prompt):
                    left = left_to_right_part(fim_prompt, fim)
                    fim_prompt = dataclasses.replace(fim_prompt, left_to_right=left)
                prepared.append(fim_prompt)
            else:
                text = prompt + (job.middle or "")
                prepared.append(build_plain(tokenizer, text, context, job.max_tokens))
        return PreparedJob(job, prepared)

    def _fim_prompt(
        self, job: CompletionJob, prompt: str, fim: FimTokens, context: int
    ) -> PreparedPrompt:
        """The FIM prompt: typed on after the cursor's anchor when it can, else laid out anew
        (and then the cursor's new anchor)."""
        tokenizer = self._engine.tokenizer
        # An anchor may hold older text before a window's start than this request sent,
        # which an echo would show.
        anchors = self._anchors if job.middle is None and not job.echo else None
        heal = self._options.fim_anchor_heal
        if heal and not self._engine.model.heals_tokens:
            anchors = None  # anchored without healing costs quality (EVAL.md): lay out anew
        key = AnchorKey(job.cache_scope, job.suffix or "", job.context_files)
        if anchors is not None:
            anchored = anchors.layout(tokenizer, key, prompt, context - job.max_tokens, heal)
            if anchored is not None:
                return anchored
        fim_prompt = build_fim(
            tokenizer,
            fim,
            prompt,
            job.suffix or "",
            context,
            job.max_tokens,
            context_files=job.context_files,
            suffix_share=self._options.suffix_share,
            context_share=self._options.context_share,
            middle=job.middle,
        )
        if anchors is not None:
            anchors.remember(key, prompt, fim_prompt)
        return fim_prompt

    def _ranks_by_suffix(self, job: CompletionJob, prompt: str) -> bool:
        """Whether this FIM prompt's suggestion is picked from a FIM and a left-to-right one."""
        return (
            self._options.suffix_rank_lines > 0
            and self._engine.model.scores_prompts
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
        if job.echo and job.logprobs is not None and not self._engine.model.scores_prompts:
            raise InvalidRequestError(
                "echo with logprobs (prompt scores) is not supported by the engine serving "
                "this model; leave one of them out.",
                "echo",
            )
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

    def stream(self, prepared: PreparedJob) -> CompletionStream:
        """Deltas of all n choices of all prompts, interleaved as they are generated."""
        job = prepared.job
        usage = Usage(prompt_tokens=prepared.prompt_tokens)
        hit = self._typeahead_hit(job)
        if hit is not None:
            usage.completion_tokens = hit.completion_tokens
            return CompletionStream(_single(hit.delta), usage)
        streams = [
            stream
            for index, prompt in enumerate(prepared.prompts)
            for stream in self._strategy(prompt).streams(job, prompt, index, usage)
        ]
        return CompletionStream(merge_streams(streams), usage)

    async def complete(self, prepared: PreparedJob) -> CompletionResult:
        job = prepared.job
        usage = Usage(prompt_tokens=prepared.prompt_tokens)
        hit = self._typeahead_hit(job)
        if hit is not None:
            usage.completion_tokens = hit.completion_tokens
            choice = Choice(0, hit.delta.text, None, hit.delta.finish_reason)
            return CompletionResult(choices=[choice], usage=usage)
        groups = await gather_or_cancel(
            *(
                self._strategy(prompt).choices(job, prompt, index, usage)
                for index, prompt in enumerate(prepared.prompts)
            )
        )
        return CompletionResult(choices=[c for group in groups for c in group], usage=usage)

    def _strategy(self, prompt: PreparedPrompt) -> ChoiceStrategy:
        return self._ranked if prompt.left_to_right is not None else self._plain

    def _typeahead_hit(self, job: CompletionJob) -> _Served | None:
        if self._typeahead is None:
            return None
        hit = self._typeahead.lookup(job)
        if hit is None:
            return None
        self._typeahead_hits += 1
        tokens = len(self._engine.tokenizer.tokenize(hit.text, special=False))
        return _Served(ChoiceDelta(0, hit.text, None, hit.finish_reason), tokens)


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
    problem = prompt_problem(tokens, vocab_size)
    if problem is not None:
        raise InvalidRequestError(problem, "prompt")


async def _single(delta: ChoiceDelta) -> AsyncIterator[ChoiceDelta]:
    yield delta
