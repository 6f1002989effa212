"""/v1/chat/completions against a FakeEngine."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from .fakes import FakeEngine

MESSAGES = [
    {"role": "system", "content": "You write Python."},
    {"role": "user", "content": [{"type": "text", "text": "Add two numbers."}]},
]


def prompt_text(engine: FakeEngine) -> str:
    tokens = engine.requests[-1].prompt_tokens
    return b"".join(engine.tokenizer.piece(token) for token in tokens).decode()


def test_chat_completion_uses_the_chat_template(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("def add(a, b): return a + b")
    response = client.post("/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 64})
    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "def add(a, b): return a + b",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 27
    assert prompt_text(engine) == "[system]You write Python.\n[user]Add two numbers.\n[assistant]"


def test_streamed_chat_sends_role_then_content_deltas(
    client: TestClient, engine: FakeEngine
) -> None:
    engine.queue_output("hello")
    response = client.post("/v1/chat/completions", json={"messages": MESSAGES, "stream": True})
    lines = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == "hello"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_chat_without_template_or_messages_is_a_400(client: TestClient, engine: FakeEngine) -> None:
    assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 400
    bad_role = {"messages": [{"role": "robot", "content": "x"}]}
    assert client.post("/v1/chat/completions", json=bad_role).status_code == 400
    engine.tokenizer.has_chat_template = False
    response = client.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"
