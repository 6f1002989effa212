"""The bench's keystroke requests: what they send."""

from __future__ import annotations

import json

import httpx

from fauxpilot.bench.client import BenchClient
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
