"""The bench's keystroke requests: what they send."""

from __future__ import annotations

import json

import httpx

from fauxpilot.bench.client import BenchClient, Timing
from fauxpilot.bench.workload import Keystroke


def sent_body(stop: tuple[str, ...]) -> dict[str, object]:
    bodies: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        usage = {"completion_tokens": 3}
        return httpx.Response(200, json={"choices": [{"text": "abc"}], "usage": usage})

    client = BenchClient("http://bench.test", model="codegen", stop=stop)
    client._http = httpx.Client(transport=httpx.MockTransport(answer))
    timing = client.complete(Keystroke("def f():\n    ", "\n"), max_tokens=24)
    client.close()
    assert timing.text == "abc" and timing.completion_tokens == 3
    return bodies[0]


def test_one_line_keystrokes_send_copilots_newline_stop() -> None:
    body = sent_body(("\n",))
    assert body["stop"] == ["\n"]
    assert body["prompt"] == "def f():\n    " and body["suffix"] == "\n"


def test_plain_keystrokes_send_no_stop() -> None:
    assert "stop" not in sent_body(())


def _streamed(events: list[dict[str, object]]) -> tuple[dict[str, object], Timing]:
    bodies: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        lines = [f"data: {json.dumps(event)}\n\n" for event in events] + ["data: [DONE]\n\n"]
        headers = {"Content-Type": "text/event-stream"}
        return httpx.Response(200, content="".join(lines).encode(), headers=headers)

    client = BenchClient("http://bench.test", model="codegen")
    client._http = httpx.Client(transport=httpx.MockTransport(answer))
    timing = client.complete_streamed(Keystroke("def f():\n    ", "\n"), max_tokens=24)
    client.close()
    return bodies[0], timing


def test_a_streamed_keystroke_times_its_first_token_and_counts_by_usage() -> None:
    events: list[dict[str, object]] = [
        {"choices": [{"index": 0, "text": ""}]},  # a role or empty chunk is no token yet
        {"choices": [{"index": 0, "text": "ret"}]},
        {"choices": [{"index": 0, "text": "urn x"}]},
        {"choices": [], "usage": {"completion_tokens": 3}},
    ]
    body, timing = _streamed(events)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["suffix"] == "\n" and body["max_tokens"] == 24
    assert timing.text == "return x" and timing.completion_tokens == 3
    first, total = timing.first_token_seconds, timing.seconds
    assert first is not None and 0 < first <= total


def test_a_stream_without_usage_counts_its_text_chunks() -> None:
    _, timing = _streamed([{"choices": [{"text": "a"}]}, {"choices": [{"text": "b"}]}])
    assert timing.completion_tokens == 2
