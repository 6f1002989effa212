"""The remote engine's wire side: the upstream body, streamed chunks read back, errors."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from fauxpilot.engine.base import FinishEvent, GenerationRequest, SamplingParams, TokenEvent
from fauxpilot.engine.remote import Replicas, router_replicas, upstream_problem
from fauxpilot.engine.remote_protocol import (
    TokenReader,
    UpstreamTimeout,
    UpstreamUnavailable,
    completion_body,
    upstream_error,
)

from .fakes import BYTE_OFFSET, ByteTokenizer


def request(max_tokens: int = 8, top: int | None = None) -> GenerationRequest:
    return GenerationRequest(
        request_id="r",
        prompt_tokens=[1, 20, 21, 2, 3],
        max_tokens=max_tokens,
        sampling=SamplingParams(temperature=0.0, top_k=5, seed=7, logit_bias={40: -100.0}),
        stop_token_ids=frozenset({0}),
        top_logprobs=top,
    )


def chunk(tokens: list[str], values: list[float], reason: str | None = None) -> dict[str, Any]:
    tops = [{token: value} for token, value in zip(tokens, values, strict=True)]
    logprobs = {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops}
    return {"choices": [{"text": "", "logprobs": logprobs, "finish_reason": reason}]}


def byte_id(character: str) -> int:
    return ord(character) + BYTE_OFFSET


def test_the_body_sends_token_ids_and_asks_for_them_back() -> None:
    body = completion_body(request(), "coder")
    assert body["prompt"] == [1, 20, 21, 2, 3]
    assert body["return_tokens_as_token_ids"] and body["logprobs"] == 1
    assert body["stop_token_ids"] == [0] and body["stream"]
    assert body["top_k"] == 5 and body["seed"] == 7 and body["logit_bias"] == {"40": -100.0}
    assert completion_body(request(top=3), "coder")["logprobs"] == 3


def test_token_ids_come_back_as_events_with_their_logprobs() -> None:
    reader = TokenReader(ByteTokenizer(), request(top=1))
    events = reader.events(
        chunk([f"token_id:{byte_id('a')}", f"token_id:{byte_id('b')}"], [-0.5, -1.0])
    )
    assert [event.piece for event in events if isinstance(event, TokenEvent)] == [b"a", b"b"]
    first = events[0]
    assert isinstance(first, TokenEvent) and first.logprob == -0.5
    assert first.top[0].token_id == byte_id("a")


def test_text_tokens_are_tokenized_again_and_logprobs_left_out_unasked() -> None:
    reader = TokenReader(ByteTokenizer(), request())
    events = reader.events(chunk(["hi"], [-0.25], "length"))
    tokens = [event for event in events if isinstance(event, TokenEvent)]
    assert [token.piece for token in tokens] == [b"h", b"i"]
    assert all(token.logprob is None for token in tokens)
    assert isinstance(events[-1], FinishEvent) and events[-1].reason == "length"


def test_a_stop_token_or_max_tokens_ends_the_stream_here() -> None:
    stopped = TokenReader(ByteTokenizer(), request()).events(
        chunk([f"token_id:{byte_id('x')}", "token_id:0", f"token_id:{byte_id('y')}"], [0, 0, 0])
    )
    assert [type(event).__name__ for event in stopped] == ["TokenEvent", "FinishEvent"]
    assert isinstance(stopped[-1], FinishEvent) and stopped[-1].reason == "stop"
    capped = TokenReader(ByteTokenizer(), request(max_tokens=1)).events(chunk(["ab"], [0.0]))
    assert isinstance(capped[-1], FinishEvent) and capped[-1].completion_tokens == 1


def test_upstream_errors_keep_the_upstreams_message() -> None:
    error = upstream_error(400, '{"error": {"message": "suffix is not supported"}}')
    assert error.status == 502 and "suffix is not supported" in str(error)
    assert isinstance(upstream_error(503, "busy"), UpstreamUnavailable)
    assert isinstance(upstream_error(504, "slow"), UpstreamTimeout)


class _Router(BaseHTTPRequestHandler):
    """Answers `/workers` as vllm-router does; other paths are 404, as on vLLM itself."""

    workers: ClassVar[list[dict[str, object]]] = []

    def do_GET(self) -> None:
        if self.path != "/workers":
            self.send_error(404)
            return
        body = json.dumps({"workers": self.workers, "total": len(self.workers)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_replicas_behind_a_router_are_counted_and_other_upstreams_have_none() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Router)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _Router.workers = [
            {"url": "http://a:8000", "is_healthy": True},
            {"url": "http://b:8000", "is_healthy": False},
            {"url": "http://c:8000", "is_healthy": True},
        ]
        assert router_replicas(root, {}) == Replicas(total=3, healthy=2)
        # Its /v1/models fails (a router asks one worker, maybe the dead one): still up.
        assert upstream_problem(root, {}) == (None, Replicas(total=3, healthy=2))
        _Router.workers = [{"url": "http://b:8000", "is_healthy": False}]
        assert upstream_problem(root, {})[0] == "no healthy replica of 1 behind the router"
        _Router.workers = []
        assert router_replicas(root, {}) == Replicas(total=0, healthy=0)
        assert upstream_problem(f"{root}/not-a-router", {}) == ("status 404", None)
        assert router_replicas(f"{root}/not-a-router", {}) is None
    finally:
        server.shutdown()
        server.server_close()
    assert router_replicas(root, {}) is None  # nothing listens there now
