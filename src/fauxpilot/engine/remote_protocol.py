"""The wire side of the remote engine: the upstream request body, its streamed chunks read
back as token events, and its errors as ours.

vLLM returns each token's id when asked (`return_tokens_as_token_ids`: "token_id:42");
upstreams that do not (llama-server, another FauxPilot) return token text, which is
tokenized here again: the text is the same, the ids may differ at a seam.
"""

from __future__ import annotations

import json
from typing import Any

from fauxpilot.engine.base import (
    EngineError,
    EngineEvent,
    FinishEvent,
    GenerationRequest,
    TokenEvent,
    Tokenizer,
    TokenLogprob,
)

_ID_PREFIX = "token_id:"


class UpstreamError(EngineError):
    """The upstream answered with an error or with something unreadable (502)."""

    status = 502
    retryable = False  # whether sending it to another replica may help


class UpstreamUnavailable(UpstreamError):
    """The upstream is down or refuses connections (503)."""

    status = 503
    retryable = True


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time (504)."""

    status = 504
    retryable = True


def upstream_error(status: int, text: str) -> UpstreamError:
    """Our error for an upstream's error answer, with the upstream's own message."""
    try:
        detail = json.loads(text)
        message = detail.get("error", {}).get("message") or detail.get("message") or text
    except (ValueError, AttributeError):
        message = text
    message = f"the upstream answered {status}: {str(message)[:500]}"
    if status == 503:
        return UpstreamUnavailable(message)
    if status in (408, 504):
        return UpstreamTimeout(message)
    error = UpstreamError(message)
    error.retryable = status >= 500  # a replica that failed; a 4xx would fail anywhere
    return error


def completion_body(request: GenerationRequest, model: str) -> dict[str, Any]:
    """An OpenAI completion request for one sequence, the prompt as token ids."""
    sampling = request.sampling
    body: dict[str, Any] = {
        "model": model,
        "prompt": request.prompt_tokens,
        "max_tokens": request.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "presence_penalty": sampling.presence_penalty,
        "frequency_penalty": sampling.frequency_penalty,
        "stream": True,
        # Token ids come back through the logprobs: at least one is always asked for.
        "logprobs": max(request.top_logprobs or 0, 1),
        "return_tokens_as_token_ids": True,
        "stop_token_ids": sorted(request.stop_token_ids),
        "skip_special_tokens": False,
    }
    if sampling.top_k > 0:
        body["top_k"] = sampling.top_k
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if sampling.logit_bias:
        body["logit_bias"] = {str(token): bias for token, bias in sampling.logit_bias.items()}
    return body


class TokenReader:
    """One upstream stream's chunks as TokenEvents, ended by a FinishEvent."""

    def __init__(self, tokenizer: Tokenizer, request: GenerationRequest) -> None:
        self._tokenizer = tokenizer
        self._request = request
        self._generated = 0

    def events(self, chunk: dict[str, Any]) -> list[EngineEvent]:
        choices = chunk.get("choices") or []
        if not choices:
            return []  # a usage chunk
        choice = choices[0]
        logprobs = choice.get("logprobs") or {}
        tokens = logprobs.get("tokens") or []
        if tokens:
            values = logprobs.get("token_logprobs") or [None] * len(tokens)
            tops = logprobs.get("top_logprobs") or [None] * len(tokens)
            rows = list(zip(tokens, values, tops, strict=False))
        else:
            rows = [(None, None, None)] if choice.get("text") else []
        events: list[EngineEvent] = []
        for token, value, top in rows:
            ids = self._ids(token) if token is not None else self._text_ids(choice["text"])
            for token_id in ids:
                if token_id in self._request.stop_token_ids:
                    return [*events, self._finish("stop")]
                events.append(self._event(token_id, value, top))
                self._generated += 1
                if self._generated >= self._request.max_tokens:
                    return [*events, self._finish("length")]
        reason = choice.get("finish_reason")
        if reason is not None:
            events.append(self._finish("length" if reason == "length" else "stop"))
        return events

    @property
    def generated(self) -> int:
        return self._generated

    def finish(self) -> FinishEvent:
        """For a stream that ended without a finish reason."""
        return self._finish("length")

    def _finish(self, reason: str) -> FinishEvent:
        return FinishEvent(reason, len(self._request.prompt_tokens), self._generated)

    def _event(self, token_id: int, value: Any, top: Any) -> TokenEvent:
        piece = self._tokenizer.piece(token_id)
        wanted = self._request.top_logprobs
        if wanted is None:
            return TokenEvent(token_id, piece)
        alternatives = [
            TokenLogprob(alt_id, self._tokenizer.piece(alt_id), float(alt_value))
            for text, alt_value in (top or {}).items()
            for alt_id in self._ids(text)[:1]
        ]
        alternatives.sort(key=lambda alt: alt.logprob, reverse=True)
        logprob = float(value) if value is not None else None
        return TokenEvent(token_id, piece, logprob, tuple(alternatives[:wanted]))

    def _ids(self, token: str) -> list[int]:
        if token.startswith(_ID_PREFIX):
            return [int(token[len(_ID_PREFIX) :])]
        return self._text_ids(token)

    def _text_ids(self, text: str) -> list[int]:
        return self._tokenizer.tokenize(text, special=True)
