"""The evaluation's only way to the model: OpenAI completion requests over HTTP (httpx)."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from fauxpilot.evaluation.tasks import Task

log = logging.getLogger(__name__)

HUMANEVAL_STOPS = ("\ndef", "\nclass", "\nif", "\nprint", "\n#")
SINGLE_LINE_STOPS = ("\n",)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_BACKOFF_SECONDS = 30.0
_READY_POLL_SECONDS = 1.0


class RequestFailed(Exception):
    """The server gave no usable completion, even after retries."""


@dataclass(frozen=True)
class RequestSettings:
    model: str = "codegen"
    max_tokens: int = 300
    temperature: float = 0.0
    samples: int = 1
    stop: tuple[str, ...] = HUMANEVAL_STOPS
    send_suffix: bool = True
    request_timeout: float = 600.0
    attempts: int = 5
    # Before each task, send its prompt short of its last 1..K characters, as typing would:
    # the measured request then meets a cache filled by those keystrokes.
    typing_replay: int = 0
    # The model's own FIM tokens (prefix, suffix, middle): send the FIM prompt as one raw
    # `prompt` string instead of `prompt` + `suffix`, the baseline the server must match.
    raw_fim: tuple[str, str, str] | None = None
    # The raw FIM prompt's order: prefix first (psm) or suffix first (spm).
    raw_fim_order: str = "psm"
    # Send `suffix: ""` when a task has none (an editor's cursor at the end of the file).
    empty_suffix: bool = False


def api_root(url: str) -> str:
    """`url` without a trailing slash or `/v1`: http://host:5000/v1/ -> http://host:5000."""
    root = url.rstrip("/")
    return root.removesuffix("/v1")


def request_body(task: Task, settings: RequestSettings) -> dict[str, Any]:
    """The completion request an editor would send for `task`."""
    body: dict[str, Any] = {
        "model": settings.model,
        "prompt": task.prompt,
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
        "n": settings.samples,
    }
    suffix = task.suffix if task.suffix is not None or not settings.empty_suffix else ""
    if settings.send_suffix and suffix is not None:
        if settings.raw_fim is not None:
            body["prompt"] = raw_fim_prompt(task.prompt, suffix, settings)
        else:
            body["suffix"] = suffix
    if settings.stop:
        body["stop"] = list(settings.stop)
    return body


def raw_fim_prompt(prefix: str, suffix: str, settings: RequestSettings) -> str:
    """The model's own FIM prompt as text, in the order the settings ask for."""
    if settings.raw_fim is None:
        raise ValueError("no FIM tokens to build a raw FIM prompt with")
    prefix_token, suffix_token, middle_token = settings.raw_fim
    if settings.raw_fim_order == "spm":
        return f"{suffix_token}{suffix}{prefix_token}{prefix}{middle_token}"
    return f"{prefix_token}{prefix}{suffix_token}{suffix}{middle_token}"


def completion_texts(payload: Any, stops: tuple[str, ...]) -> list[str]:
    """The choices' texts in index order, cut at the first stop string (in case the server
    did not)."""
    try:
        choices = sorted(payload["choices"], key=lambda choice: int(choice.get("index", 0)))
        texts = [str(choice["text"]) for choice in choices]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RequestFailed(f"not a completion response: {error!r}") from error
    if not texts:
        raise RequestFailed("the response has no choices")
    return [truncate_at_stops(text, stops) for text in texts]


def truncate_at_stops(text: str, stops: tuple[str, ...]) -> str:
    cut = min((index for stop in stops if (index := text.find(stop)) >= 0), default=len(text))
    return text[:cut]


class CompletionClient:
    """Sends one request per task (with `n` samples); thread-safe, so workers can share it."""

    def __init__(
        self, url: str, settings: RequestSettings, http: httpx.Client | None = None
    ) -> None:
        self.root = api_root(url)
        self.settings = settings
        self._http = http or httpx.Client(timeout=httpx.Timeout(settings.request_timeout))

    def __enter__(self) -> CompletionClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._http.close()

    def complete(self, task: Task) -> list[str]:
        """The completions for `task`, as many as the settings' `samples`."""
        self._replay_typing(task)
        response = self._post(request_body(task, self.settings))
        if response.status_code != httpx.codes.OK:
            raise RequestFailed(f"HTTP {response.status_code}: {_error_message(response)}")
        try:
            payload = response.json()
        except ValueError as error:
            raise RequestFailed(f"the response is not JSON: {error}") from error
        return completion_texts(payload, self.settings.stop)

    def _replay_typing(self, task: Task) -> None:
        for missing in range(min(self.settings.typing_replay, len(task.prompt)), 0, -1):
            keystroke = dataclasses.replace(task, prompt=task.prompt[:-missing])
            body = request_body(keystroke, self.settings) | {"max_tokens": 1, "n": 1}
            response = self._post(body)
            if response.status_code != httpx.codes.OK:
                raise RequestFailed(f"HTTP {response.status_code}: {_error_message(response)}")

    def wait_until_ready(self, timeout: float) -> None:
        """Return once GET /health answers 200 (or the server has no such route). A refused
        connection counts as not ready yet: a server just started has not bound its port."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = self._http.get(f"{self.root}/health", timeout=10.0)
                ready = response.status_code != httpx.codes.SERVICE_UNAVAILABLE
                reason = "waiting for the server to load its model"
            except httpx.ConnectError as error:
                ready, reason = False, f"waiting for the server to listen ({error})"
            except httpx.TransportError as error:
                raise RequestFailed(f"cannot reach the server at {self.root}: {error}") from error
            if ready:
                return
            if time.monotonic() > deadline:
                raise RequestFailed(f"the server at {self.root} was not ready in {timeout:g} s")
            log.info(reason)
            time.sleep(_READY_POLL_SECONDS)

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        """POST with retries on connection errors and on 429/5xx, backing off."""
        url = f"{self.root}/v1/completions"
        delay = 1.0
        for attempt in range(1, self.settings.attempts + 1):
            try:
                response = self._http.post(url, json=body)
            except httpx.TimeoutException as error:
                raise RequestFailed(f"no answer within the request timeout: {error}") from error
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"HTTP {response.status_code}: {_error_message(response)}"
            if attempt == self.settings.attempts:
                raise RequestFailed(f"{problem} (after {attempt} attempts)")
            log.warning("request failed (%s); retrying in %.0f s", problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_SECONDS)
        raise AssertionError("unreachable")


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
