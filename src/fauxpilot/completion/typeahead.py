"""Typeahead: when the user types exactly what the last suggestion said, the rest of that
suggestion is still the answer, so it is served without running the model again.

Only greedy single-choice requests qualify (their output is a function of the prompt); the
served remainder is the earlier completion's text, which a fresh run would reproduce up to
tokenization differences at the seam. It is on by default and can be switched off with
`--no-typeahead`.

It keeps digests of the code it saw, never the code itself: 64 prompts of up to the body
limit each would otherwise stay in memory.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass

from fauxpilot.completion.types import CompletionJob
from fauxpilot.engine.base import SamplingParams

REMEMBERED = 64


@dataclass(frozen=True)
class _Finished:
    """A finished suggestion and what identifies its request: digests, not the code."""

    cache_scope: str
    prompt_length: int
    prompt_digest: bytes
    suffix_digest: bytes | None
    stop: tuple[str, ...]
    max_tokens: int
    sampling: SamplingParams
    text: str
    finish_reason: str
    model: str | None = None  # a gateway's adapters answer differently


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True)
class TypeaheadHit:
    text: str
    finish_reason: str


def eligible(job: CompletionJob) -> bool:
    return (
        job.sampling.greedy
        and job.n == 1
        and job.best_of == 1
        and job.logprobs is None
        and not job.echo
        and len(job.prompts) == 1
        and isinstance(job.prompts[0], str)
    )


def _typed_text(job: CompletionJob) -> str | None:
    """Everything typed before the cursor (with text the client put after the FIM middle)."""
    prompt = job.prompts[0] if job.prompts else None
    if not isinstance(prompt, str):
        return None
    return prompt + (job.middle or "")


class TypeaheadCache:
    def __init__(self, size: int = REMEMBERED) -> None:
        self._finished: deque[_Finished] = deque(maxlen=size)

    def remember(self, job: CompletionJob, text: str, finish_reason: str) -> None:
        prompt = _typed_text(job)
        if eligible(job) and prompt is not None and text:
            suffix = None if job.suffix is None else _digest(job.suffix)
            self._finished.append(
                _Finished(
                    job.cache_scope, len(prompt), _digest(prompt), suffix, job.stop, job.max_tokens,
                    job.sampling, text, finish_reason, job.model,
                )
            )  # fmt: skip

    def lookup(self, job: CompletionJob) -> TypeaheadHit | None:
        prompt = _typed_text(job)
        if not eligible(job) or prompt is None:
            return None
        suffix = None if job.suffix is None else _digest(job.suffix)
        for done in reversed(self._finished):
            typed = prompt[done.prompt_length :]
            if not typed or len(done.text) <= len(typed) or not done.text.startswith(typed):
                continue
            if not self._same_request_shape(done, job, suffix):
                continue
            if _digest(prompt[: done.prompt_length]) == done.prompt_digest:
                return TypeaheadHit(done.text[len(typed) :], done.finish_reason)
        return None

    @staticmethod
    def _same_request_shape(done: _Finished, job: CompletionJob, suffix: bytes | None) -> bool:
        return (
            done.cache_scope == job.cache_scope
            and done.suffix_digest == suffix
            and done.stop == job.stop
            and done.max_tokens == job.max_tokens
            and done.sampling == job.sampling
            and done.model == job.model
        )
