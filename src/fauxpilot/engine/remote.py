"""An upstream OpenAI-compatible completion server as the engine (vLLM first; llama.cpp's
llama-server, SGLang and another FauxPilot through the same path).

The gateway does everything an editor needs in front of it: FIM prompts are built here
(the upstream gets token ids, so its own handling of `suffix` never matters), budgets and
trimming use the model's own tokenizer (a GGUF file's vocabulary or a Hugging Face tokenizer,
held here), stop strings, typeahead and the client shapes stay in the completion layer.
Tokens stream one by one; closing a request closes its upstream stream, which aborts it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fauxpilot.engine.base import (
    EngineError,
    EngineOverloaded,
    EngineStatus,
    FinishEvent,
    GenerationRequest,
    Health,
    ModelInfo,
    PromptEvent,
    Tokenizer,
    UpstreamHealth,
)
from fauxpilot.engine.events import Emit
from fauxpilot.engine.lifecycle import ManagedEngine, Occupancy, Started
from fauxpilot.engine.remote_protocol import (
    TokenReader,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    completion_body,
    upstream_error,
)
from fauxpilot.models.catalog import PromptFamily, detect_family

log = logging.getLogger(__name__)

HEALTH_INTERVAL_SECONDS = 2.0
RETRIES = 3  # sends of a request that failed before its first token, each routed anew
SESSION_HEADER = "X-Session-ID"  # what vllm-router's consistent_hash policy hashes


@dataclass(frozen=True)
class RemoteSpec:
    name: str  # the model name clients see
    upstream: str  # the upstream's root URL, e.g. http://127.0.0.1:8000
    tokenizer: Path  # a GGUF file or a Hugging Face tokenizer folder of the same model
    family: PromptFamily | None
    context_length: int
    max_in_flight: int
    upstream_model: str | None = None  # None: the first model the upstream lists
    api_key: str | None = None
    timeout_seconds: float = 120.0
    # Client model names run as the upstream's LoRA adapters: {"team-python": "team-lora"}.
    adapters: dict[str, str] = field(default_factory=dict)


class RemoteEngine(ManagedEngine[asyncio.Task[None]]):
    """Owns the HTTP client to the upstream, the tokenizer, and a thread that checks the
    upstream's health every HEALTH_INTERVAL_SECONDS: `ok` while it answers, `failed` with the
    reason while it does not, so /health never says ok in front of a dead upstream.
    Never retries a request that has streamed a token (the client has seen it)."""

    def __init__(self, spec: RemoteSpec) -> None:
        super().__init__(spec.name)
        self._spec = spec
        self._root = spec.upstream.rstrip("/").removesuffix("/v1")
        self._headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
        self._closer: Any = None
        self._upstream_model = spec.upstream_model or ""
        self._client: httpx.AsyncClient | None = None
        self._in_flight = 0
        self._retries = 0
        self._replicas: Replicas | None = None
        self._stopping = threading.Event()
        self._checker: threading.Thread | None = None

    # --- ManagedEngine -------------------------------------------------------------------

    def start(self) -> None:
        super().start()
        self._check_upstream()  # the status says at once whether the upstream answers
        self._checker = threading.Thread(
            target=self._check_periodically, name="fauxpilot-upstream-health", daemon=True
        )
        self._checker.start()

    def _start_backend(self) -> Started:
        tokenizer, size = self._load_tokenizer()
        spec = self._spec
        info = ModelInfo(
            name=spec.name,
            path=spec.upstream,
            context_length=min(spec.context_length, self._upstream_context()),
            vocab_size=size,
            family=spec.family or detect_family(tokenizer.special_token_id),
            scores_prompts=False,
            aliases=tuple(spec.adapters),
        )
        log.info("gateway for %s at %s (tokenizer %s)", spec.name, self._root, spec.tokenizer)
        return Started(info, tokenizer)

    def _stop_backend(self) -> None:
        self._stopping.set()
        if self._checker is not None:
            self._checker.join(timeout=5)
        if self._closer is not None:
            self._closer()

    def _submit(self, request: GenerationRequest, emit: Emit) -> asyncio.Task[None]:
        if self._in_flight >= self._spec.max_in_flight:
            raise EngineOverloaded(f"{self._in_flight} requests are in flight upstream")
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._relay(request, emit))
        task.add_done_callback(self._done)  # also when cancelled before it ran
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight -= 1

    def _cancel(self, work: asyncio.Task[None]) -> None:
        work.cancel()  # closes the upstream stream: vLLM aborts a request whose client left

    def health(self) -> Health:
        """The upstream's health, with the replicas its router reports and the retries."""
        replicas = self._replicas
        upstream = UpstreamHealth(
            self._root,
            self._retries,
            replicas.total if replicas else None,
            replicas.healthy if replicas else None,
        )
        return dataclasses.replace(super().health(), upstream=upstream)

    def _occupancy(self) -> Occupancy:
        free = max(0, self._spec.max_in_flight - self._in_flight)
        return Occupancy(self._in_flight, 0, free, self._spec.max_in_flight)

    # --- the upstream --------------------------------------------------------------------

    def _load_tokenizer(self) -> tuple[Tokenizer, int]:
        path = self._spec.tokenizer
        if path.is_file():
            from fauxpilot.engine.llamacpp_model import VocabOnly

            vocab = VocabOnly(path)
            self._closer = vocab.close
            return vocab.vocab, vocab.vocab.size
        from fauxpilot.engine.hf_tokenizer import HfTokenizer

        folder = path / "hf_tokenizer" if (path / "hf_tokenizer").is_dir() else path
        tokenizer = HfTokenizer(folder)
        return tokenizer, tokenizer.size

    async def _relay(self, request: GenerationRequest, emit: Emit) -> None:
        try:
            await self._stream_tokens(request, emit)
        except asyncio.CancelledError:
            raise
        except EngineError as error:
            emit(error)
        except Exception as error:  # an upstream that answers garbage
            log.exception("upstream stream failed")
            emit(UpstreamError(f"the upstream's answer could not be read: {error}"))

    async def _stream_tokens(self, request: GenerationRequest, emit: Emit) -> None:
        """Relay one upstream stream. A request that fails before its first token (a dead
        replica behind a router) is sent again under another session key, which routes it
        elsewhere; once a token has streamed, a failure ends the request."""
        reader = TokenReader(self.tokenizer, request)
        emit(PromptEvent(len(request.prompt_tokens), 0))
        session = request.session_key or request.request_id
        for attempt in range(RETRIES + 1):
            key = session if attempt == 0 else f"{session}:retry{attempt}"
            try:
                async for chunk in self._chunks(request, key):
                    for event in reader.events(chunk):
                        emit(event)
                        if isinstance(event, FinishEvent):
                            return
                emit(reader.finish())
                return
            except UpstreamError as error:
                if reader.generated or attempt == RETRIES or not error.retryable:
                    raise
                self._retries += 1
                log.warning("%s: sent again after: %s", request.request_id, error)

    async def _chunks(
        self, request: GenerationRequest, session: str
    ) -> AsyncIterator[dict[str, Any]]:
        client = self._http()
        adapter = self._spec.adapters.get(request.model or "")
        body = completion_body(request, adapter or await self._model_name())
        headers = {**self._headers, SESSION_HEADER: session}
        try:
            async with client.stream(
                "POST", "/v1/completions", json=body, headers=headers
            ) as response:
                if response.status_code != 200:
                    raise upstream_error(response.status_code, (await response.aread()).decode())
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        yield json.loads(line[6:])
        except httpx.TimeoutException as error:
            raise UpstreamTimeout(f"the upstream {self._root} did not answer in time") from error
        except httpx.TransportError as error:
            raise UpstreamUnavailable(
                f"the upstream {self._root} is unreachable: {error}"
            ) from error

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(self._spec.timeout_seconds, connect=5.0)
            self._client = httpx.AsyncClient(base_url=self._root, timeout=timeout)
        return self._client

    async def _model_name(self) -> str:
        if not self._upstream_model:
            response = await self._http().get("/v1/models", headers=self._headers)
            self._upstream_model = str(response.json()["data"][0]["id"])
        return self._upstream_model

    def _upstream_context(self) -> int:
        """The upstream model's context when it says (vLLM's `max_model_len`): prompts are
        trimmed to fit it here, not refused there."""
        try:
            response = httpx.get(f"{self._root}/v1/models", headers=self._headers, timeout=5)
            models = [model for model in response.json()["data"] if isinstance(model, dict)]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return self._spec.context_length  # not up yet: the configured one
        for model in models:
            named = not self._upstream_model or model.get("id") == self._upstream_model
            if named and isinstance(model.get("max_model_len"), int):
                return int(model["max_model_len"])
        return self._spec.context_length

    def _check_periodically(self) -> None:
        while not self._stopping.wait(HEALTH_INTERVAL_SECONDS):
            self._check_upstream()

    def _check_upstream(self) -> None:
        """`ok` when the upstream answers, `failed` with why when it does not."""
        if self._status in (EngineStatus.STOPPED, EngineStatus.LOADING):
            return
        problem, self._replicas = upstream_problem(self._root, self._headers)
        if problem is None:
            if self._status is not EngineStatus.OK:
                log.info("the upstream %s answers again", self._root)
            self._set_status(EngineStatus.OK)
        else:
            if self._status is EngineStatus.OK:
                log.error("the upstream %s does not answer: %s", self._root, problem)
            self._set_status(EngineStatus.FAILED, f"upstream {self._root}: {problem}")


def upstream_problem(root: str, headers: dict[str, str]) -> tuple[str | None, Replicas | None]:
    """Why the upstream cannot serve (None when it can), and its replicas if it is a router.

    Behind a router that lists its workers, the upstream is up while one of them is healthy:
    the router answers `/v1/models` from one worker, which may be the dead one.
    """
    replicas = router_replicas(root, headers)
    if replicas is not None:
        if replicas.healthy:
            return None, replicas
        return f"no healthy replica of {replicas.total} behind the router", replicas
    try:
        response = httpx.get(f"{root}/v1/models", headers=headers, timeout=5)
    except httpx.HTTPError as error:
        return str(error) or type(error).__name__, None
    return (None if response.status_code == 200 else f"status {response.status_code}"), None


@dataclass(frozen=True)
class Replicas:
    total: int
    healthy: int


def router_replicas(root: str, headers: dict[str, str]) -> Replicas | None:
    """The workers behind a router that lists them (vllm-router's and SGLang's `/workers`:
    each with `url` and `is_healthy`), or None for an upstream that is not such a router."""
    try:
        response = httpx.get(f"{root}/workers", headers=headers, timeout=5)
        workers = response.json()["workers"] if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(workers, list):
        return None
    listed = [worker for worker in workers if isinstance(worker, dict) and "url" in worker]
    healthy = sum(1 for worker in listed if worker.get("is_healthy") is True)
    return Replicas(len(listed), healthy)
