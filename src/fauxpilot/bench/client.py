"""Timed requests to an OpenAI-compatible /v1/completions endpoint."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from fauxpilot.bench.workload import Keystroke


@dataclass(frozen=True)
class Timing:
    seconds: float
    completion_tokens: int
    text: str


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
        body = {
            "model": self._model,
            "prompt": keystroke.prefix,
            "suffix": keystroke.suffix,
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        if self._stop:
            body["stop"] = self._stop
        started = time.perf_counter()
        response = self._http.post(self._endpoint, json=body)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        payload: dict[str, Any] = response.json()
        usage = payload.get("usage") or {}
        text = str(payload["choices"][0]["text"])
        return Timing(elapsed, int(usage.get("completion_tokens", 0)), text)

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
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                choices = json.loads(line[len("data: ") :]).get("choices") or [{}]
                if choices[0].get("text"):
                    chunks += 1
                    if chunks == 1:
                        first = time.perf_counter() - started
        total = time.perf_counter() - started
        return StreamTiming(first, total, chunks, chunks)
