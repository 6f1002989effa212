"""One CTranslate2 batch: decode it, stream its tokens, score what asks for log-probabilities.

A batch is a list of requests with the same sampling settings (see ctranslate2.py for how
batches are formed). Tokens stream through CTranslate2's per-token callback; returning True
from it ends that one sequence (a stop token, max_tokens, or a client that went away) while
the others go on. Log-probabilities come from a forward pass over prompt + completion once a
scored sequence has finished, so such requests stream their tokens at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fauxpilot.engine.base import (
    EngineEvent,
    FinishEvent,
    GenerationRequest,
    PromptEvent,
    TokenEvent,
    Tokenizer,
    TokenLogprob,
)
from fauxpilot.engine.events import Emit
from fauxpilot.engine.sampling import log_softmax, top_logprobs


@dataclass
class Ct2Job:
    request: GenerationRequest
    emit: Emit
    cancelled: bool = False
    generated: list[int] = field(default_factory=list)
    finished: bool = False

    @property
    def scored(self) -> bool:
        return self.request.top_logprobs is not None or self.request.prompt_logprobs

    def batch_key(self) -> tuple[Any, ...]:
        sampling = self.request.sampling
        return (
            sampling.temperature,
            sampling.top_p,
            sampling.top_k,
            sampling.seed,
            self.request.stop_token_ids,
            self.scored,
        )

    def deliver(self, event: EngineEvent | BaseException) -> None:
        if not self.cancelled:
            self.emit(event)


class BatchDecoder:
    def __init__(
        self,
        generator: Any,
        vocabulary: list[str],
        tokenizer: Tokenizer,
        context_length: int,
        device: str,
    ) -> None:
        self._generator = generator
        self._vocabulary = vocabulary
        self.tokenizer = tokenizer
        self._context_length = context_length
        self._device = device

    def decode(self, batch: list[Ct2Job]) -> None:
        first = batch[0].request
        for job in batch:
            job.deliver(PromptEvent(len(job.request.prompt_tokens), 0))
        if first.prompt_logprobs and first.max_tokens <= 0:
            self._emit_scores(batch[0])
            return
        limits = {id(job): self._token_budget(job) for job in batch}
        stream = not batch[0].scored

        def on_token(step: Any) -> bool:
            job = batch[step.batch_id]
            return self._take_token(job, int(step.token_id), limits[id(job)], stream)

        if first.sampling.seed is not None:
            import ctranslate2

            ctranslate2.set_random_seed(first.sampling.seed)
        self._generator.generate_batch(
            [self._strings(job.request.prompt_tokens) for job in batch],
            max_length=max(limits.values()),
            include_prompt_in_result=False,
            end_token=[],
            callback=on_token,
            **_sampling_arguments(first),
        )
        for job in batch:
            if job.scored and not job.cancelled:
                self._emit_scores(job)
            if not job.finished:
                self._finish(job, "length")

    def _token_budget(self, job: Ct2Job) -> int:
        room = self._context_length - len(job.request.prompt_tokens)
        return max(1, min(job.request.max_tokens, room))

    def _take_token(self, job: Ct2Job, token: int, limit: int, stream: bool) -> bool:
        """Record one generated token; True ends this sequence."""
        if job.cancelled or job.finished:
            return True
        if token in job.request.stop_token_ids:
            if stream:
                self._finish(job, "stop")
            else:
                job.finished = True  # finished with "stop" once its scores are out
                job.generated.append(-1)
            return True
        job.generated.append(token)
        if stream:
            job.deliver(TokenEvent(token, self.tokenizer.piece(token)))
            if len(job.generated) >= limit:
                self._finish(job, "length")
                return True
        return len(job.generated) >= limit

    def _emit_scores(self, job: Ct2Job) -> None:
        """Prompt and completion log-probabilities from one forward pass, then the tokens."""
        request = job.request
        stopped = bool(job.generated) and job.generated[-1] == -1
        completion = job.generated[:-1] if stopped else job.generated
        tokens = [*request.prompt_tokens, *completion]
        logprobs = self._forward_logprobs(tokens[:-1] if completion else tokens)
        k = request.top_logprobs or 0
        if request.prompt_logprobs:
            if request.prompt_logprobs_from == 0:
                first = request.prompt_tokens[0]
                job.deliver(TokenEvent(first, self.tokenizer.piece(first), None, (), True))
            for index, token in enumerate(request.prompt_tokens[1:]):
                if index + 1 >= request.prompt_logprobs_from:
                    event = self._scored_event(token, logprobs[index], k, is_prompt=True)
                    job.deliver(event)
        offset = len(request.prompt_tokens) - 1
        for index, token in enumerate(completion):
            job.deliver(self._scored_event(token, logprobs[offset + index], k))
        job.generated = list(completion)
        self._finish(job, "stop" if stopped else "length")

    def _scored_event(
        self, token: int, row: np.ndarray[Any, Any], k: int, *, is_prompt: bool = False
    ) -> TokenEvent:
        top = tuple(
            TokenLogprob(candidate, self.tokenizer.piece(candidate), value)
            for candidate, value in top_logprobs(row, k)
        )
        return TokenEvent(token, self.tokenizer.piece(token), float(row[token]), top, is_prompt)

    def _forward_logprobs(self, tokens: list[int]) -> np.ndarray[Any, Any]:
        import ctranslate2

        logits = self._generator.forward_batch([self._strings(tokens)])
        if self._device != "cpu":
            logits = logits.to_device(ctranslate2.Device.cpu)
        rows = np.asarray(logits, dtype=np.float32)[0]
        return np.stack([log_softmax(row) for row in rows])

    def _finish(self, job: Ct2Job, reason: str) -> None:
        job.finished = True
        job.deliver(
            FinishEvent(
                reason=reason,
                prompt_tokens=len(job.request.prompt_tokens),
                completion_tokens=len([t for t in job.generated if t >= 0]),
            )
        )

    def _strings(self, tokens: list[int]) -> list[str]:
        return [self._vocabulary[token] for token in tokens]


def _sampling_arguments(request: GenerationRequest) -> dict[str, Any]:
    sampling = request.sampling
    if sampling.greedy:
        return {"sampling_topk": 1}
    return {
        "sampling_topk": sampling.top_k if sampling.top_k > 0 else 0,
        "sampling_topp": sampling.top_p,
        "sampling_temperature": sampling.temperature,
    }
