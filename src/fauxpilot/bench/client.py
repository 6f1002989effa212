"""Timed requests to an OpenAI-compatible /v1/completions endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from fauxpilot.bench.workload import Keystroke


@dataclass(frozen=True)
class Timing:
    seconds: float
    completion_tokens: int
    text: str
    first_token_seconds: float | None = None  # streamed requests only


@dataclass(frozen=True)
class StreamTiming:
    first_token_seconds: float
    total_seconds: float
    chunks: int
    completion_tokens: int


class BenchClient:
    def __init__(
        self, url: str, model: str, timeout: float = 600.0, stop: tuple[str, ...] = ()
    ) -> None:
        self._endpoint = url.rstrip("/") + "/v1/completions"
        self._model = model
        self._stop = list(stop)
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def complete(self, keystroke: Keystroke, max_tokens: int) -> Timing:
        body = self._keystroke_body(keystroke, max_tokens)
        started = time.perf_counter()
        response = self._http.post(self._endpoint, json=body)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        payload: dict[str, Any] = response.json()
        usage = payload.get("usage") or {}
        text = str(payload["choices"][0]["text"])
        return Timing(elapsed, int(usage.get("completion_tokens", 0)), text)

    def complete_streamed(self, keystroke: Keystroke, max_tokens: int) -> Timing:
        """The keystroke's completion streamed, as Copilot's clients ask for it: also times
        the first token. Tokens are counted from the usage chunk, or as text chunks."""
        body = self._keystroke_body(keystroke, max_tokens)
        body.update(stream=True, stream_options={"include_usage": True})
        started = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        usage: dict[str, Any] = {}
        with self._http.stream("POST", self._endpoint, json=body) as response:
            for chunk in _sse_chunks(response):
                usage = chunk.get("usage") or usage
                text = (chunk.get("choices") or [{}])[0].get("text")
                if text:
                    first = time.perf_counter() - started if first is None else first
                    parts.append(text)
        elapsed = time.perf_counter() - started
        tokens = int(usage.get("completion_tokens", len(parts)))
        return Timing(elapsed, tokens, "".join(parts), first)

    def _keystroke_body(self, keystroke: Keystroke, max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "prompt": keystroke.prefix,
            "suffix": keystroke.suffix,
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        if self._stop:
            body["stop"] = self._stop
        return body

    def stream(self, prompt: str, max_tokens: int) -> StreamTiming:
        """Stream a plain completion; counts chunks that carry text."""
        body = {
            "model": self._model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
        }
        started = time.perf_counter()
        first = 0.0
        chunks = 0
        with self._http.stream("POST", self._endpoint, json=body) as response:
            for chunk in _sse_chunks(response):
                choices = chunk.get("choices") or [{}]
                if choices[0].get("text"):
                    chunks += 1
                    if chunks == 1:
                        first = time.perf_counter() - started
        total = time.perf_counter() - started
        return StreamTiming(first, total, chunks, chunks)


def _sse_chunks(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The JSON chunks of an OpenAI event stream, up to `[DONE]`."""
    response.raise_for_status()
    for line in response.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            yield json.loads(line[len("data: ") :])
