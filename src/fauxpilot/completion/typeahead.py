"""Typeahead: when the user types exactly what the last suggestion said, the rest of that
suggestion is still the answer, so it is served without running the model again.

Only greedy single-choice requests qualify (their output is a function of the prompt); the
served remainder is the earlier completion's text, which a fresh run would reproduce up to
tokenization differences at the seam. It is on by default and can be switched off with
`--typeahead false`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fauxpilot.completion.types import CompletionJob
from fauxpilot.engine.base import SamplingParams

REMEMBERED = 64


@dataclass(frozen=True)
class _Finished:
    prompt: str
    suffix: str | None
    stop: tuple[str, ...]
    max_tokens: int
    sampling: SamplingParams
    text: str
    finish_reason: str


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
            self._finished.append(
                _Finished(
                    prompt, job.suffix, job.stop, job.max_tokens, job.sampling, text, finish_reason
                )
            )

    def lookup(self, job: CompletionJob) -> TypeaheadHit | None:
        prompt = _typed_text(job)
        if not eligible(job) or prompt is None:
            return None
        for done in reversed(self._finished):
            if not self._same_request_shape(done, job) or not prompt.startswith(done.prompt):
                continue
            typed = prompt[len(done.prompt) :]
            if typed and len(done.text) > len(typed) and done.text.startswith(typed):
                return TypeaheadHit(done.text[len(typed) :], done.finish_reason)
        return None

    @staticmethod
    def _same_request_shape(done: _Finished, job: CompletionJob) -> bool:
        return (
            done.suffix == job.suffix
            and done.stop == job.stop
            and done.max_tokens == job.max_tokens
            and done.sampling == job.sampling
        )
