"""The HTTP layer against a FakeEngine: shapes, streaming, stops, logprobs and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fauxpilot.api import create_app
from fauxpilot.api.config import ApiConfig

from .fakes import FakeEngine


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()  # a 256-token context, so that trimming shows


def sse_events(response: Any) -> list[Any]:
    events = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def test_completion_has_openai_shape(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("return a + b\n")
    response = client.post(
        "/v1/completions", json={"prompt": "def add(a, b):\n    ", "max_tokens": 50}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("cmpl-")
    assert body["object"] == "text_completion"
    assert body["model"] == "fake-model"
    assert isinstance(body["created"], int)
    assert body["choices"] == [
        {"text": "return a + b\n", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]
    assert body["usage"] == {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32}
    assert response.headers["x-request-id"]
    assert int(response.headers["openai-processing-ms"]) >= 0


def test_engine_route_accepts_any_engine_name_and_unknown_fields(
    client: TestClient, engine: FakeEngine
) -> None:
    body = {
        "prompt": "x",
        "max_tokens": 5,
        "nwo": "a/b",
        "extra": {"language": "python"},
        "feature_flags": ["x"],
        "model": "fastertransformer",
    }
    for name in ("codegen", "copilot-codex"):
        response = client.post(
            f"/v1/engines/{name}/completions", json=body, headers={"X-Request-Id": "abc-123"}
        )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "abc-123"
        assert response.json()["choices"][0]["finish_reason"] == "length"


def test_max_tokens_gives_length(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("abcdefgh")
    body = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 3}).json()
    assert body["choices"][0]["text"] == "abc"
    assert body["choices"][0]["finish_reason"] == "length"


def test_stop_strings_trim_and_finish_with_stop(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("    return x\ndef other():\n")
    response = client.post(
        "/v1/completions", json={"prompt": "def f(x):\n", "stop": ["\ndef"], "max_tokens": 100}
    )
    choice = response.json()["choices"][0]
    assert choice["text"] == "    return x"
    assert choice["finish_reason"] == "stop"
    assert response.json()["usage"]["completion_tokens"] < 100


def test_stream_sends_chunks_then_done(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("hello world")
    response = client.post(
        "/v1/completions", json={"prompt": "x", "max_tokens": 50, "stream": True}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    # Proxies pass events on at once (nginx reads X-Accel-Buffering) and cache nothing.
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-cache"
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len(chunks) > 2
    assert all(chunk["object"] == "text_completion" for chunk in chunks)
    assert "".join(chunk["choices"][0]["text"] for chunk in chunks) == "hello world"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_with_usage(client: TestClient) -> None:
    response = client.post(
        "/v1/completions",
        json={
            "prompt": "x",
            "max_tokens": 3,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    events = sse_events(response)
    assert events[-2]["choices"] == []
    assert events[-2]["usage"]["completion_tokens"] == 3


def test_stream_never_splits_a_utf8_character(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("née €")
    events = sse_events(
        client.post("/v1/completions", json={"prompt": "x", "max_tokens": 50, "stream": True})
    )
    texts = [event["choices"][0]["text"] for event in events[:-1]]
    assert "".join(texts) == "née €"
    assert "\ufffd" not in "".join(texts)


def test_logprobs_shape_and_offsets(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("ab\ncd")
    body = client.post(
        "/v1/completions", json={"prompt": "x", "max_tokens": 10, "logprobs": 2, "stop": "\n"}
    ).json()
    logprobs = body["choices"][0]["logprobs"]
    assert body["choices"][0]["text"] == "ab"
    assert logprobs["tokens"] == ["a", "b"]
    assert logprobs["token_logprobs"] == [-0.5, -0.5]
    assert logprobs["text_offset"] == [0, 1]
    assert all(len(top) == 2 for top in logprobs["top_logprobs"])


def test_echo_prepends_prompt_and_scores_it(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("cd")
    body = client.post(
        "/v1/completions", json={"prompt": "ab", "max_tokens": 5, "echo": True, "logprobs": 0}
    ).json()
    choice = body["choices"][0]
    assert choice["text"] == "abcd"
    assert choice["logprobs"]["tokens"] == ["a", "b", "c", "d"]
    assert choice["logprobs"]["token_logprobs"][0] is None
    assert choice["logprobs"]["text_offset"] == [0, 1, 2, 3]


def test_n_and_prompt_lists_index_choices(client: TestClient, engine: FakeEngine) -> None:
    body = client.post(
        "/v1/completions", json={"prompt": ["a", "b"], "n": 2, "max_tokens": 2}
    ).json()
    assert [choice["index"] for choice in body["choices"]] == [0, 1, 2, 3]
    assert len(engine.requests) == 4
    assert len({request.request_id for request in engine.requests}) == 4


def test_suffix_builds_a_fim_prompt(client: TestClient, engine: FakeEngine) -> None:
    client.post("/v1/completions", json={"prompt": "a\n", "suffix": "b", "max_tokens": 2})
    assert engine.requests[-1].prompt_tokens[0] == 1  # <|fim_prefix|>
    assert engine.requests[-1].prompt_tokens[-1] == 3  # <|fim_middle|>


def test_long_prompt_is_trimmed_not_refused(client: TestClient, engine: FakeEngine) -> None:
    prompt = "".join(f"line {number}\n" for number in range(200))
    response = client.post("/v1/completions", json={"prompt": prompt, "max_tokens": 16})
    assert response.status_code == 200
    assert response.json()["usage"]["prompt_tokens"] <= 256 - 16


def test_copilot_token_route(client: TestClient) -> None:
    body = client.get("/copilot_internal/v2/token").json()
    assert body["token"] and body["expires_at"] > 0 and body["refresh_in"] > 0


def test_models_and_health(client: TestClient, engine: FakeEngine) -> None:
    assert client.get("/v1/models").json()["data"][0]["id"] == "fake-model"
    assert client.get("/health").status_code == 200
    engine.ready = False
    assert client.get("/health").status_code == 503
    response = client.post("/v1/completions", json={"prompt": "x"})
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "server_error"


BAD_REQUESTS = [
    ("malformed json", b'{"prompt": "x",', None),
    ("not an object", b'["prompt"]', None),
    ("invalid utf-8", b'{"prompt": "\xff\xfe"}', None),
    ("prompt wrong type", {"prompt": 5}, "prompt"),
    ("empty token prompt", {"prompt": [[]]}, "prompt"),
    ("token id outside the vocabulary", {"prompt": [10**9]}, "prompt"),
    ("n above the server limit", {"prompt": "x", "n": 20}, "n"),
    ("max_tokens zero", {"prompt": "x", "max_tokens": 0}, "max_tokens"),
    ("max_tokens string", {"prompt": "x", "max_tokens": "many"}, "max_tokens"),
    ("temperature high", {"prompt": "x", "temperature": 2.5}, "temperature"),
    ("temperature negative", {"prompt": "x", "temperature": -1}, "temperature"),
    ("top_p zero", {"prompt": "x", "top_p": 0}, "top_p"),
    ("top_p above one", {"prompt": "x", "top_p": 1.5}, "top_p"),
    ("n too large", {"prompt": "x", "n": 1000}, "n"),
    ("logprobs too large", {"prompt": "x", "logprobs": 6}, "logprobs"),
    ("best_of below n", {"prompt": "x", "n": 3, "best_of": 2}, None),
    ("stream with best_of", {"prompt": "x", "stream": True, "best_of": 2}, None),
    ("empty prompt list", {"prompt": []}, "prompt"),
    ("stop wrong type", {"prompt": "x", "stop": 7}, "stop"),
    ("logit_bias bad key", {"prompt": "x", "logit_bias": {"abc": 1}}, "logit_bias"),
    ("logit_bias out of range", {"prompt": "x", "logit_bias": {"5": 500}}, "logit_bias"),
]


@pytest.mark.parametrize(("name", "body", "param"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_input_is_a_400_in_openai_shape(
    client: TestClient, name: str, body: Any, param: str | None
) -> None:
    if isinstance(body, bytes):
        response = client.post(
            "/v1/completions", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = client.post("/v1/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    if param is not None:
        assert error["param"] == param
    assert client.get("/health").status_code == 200


def test_nan_is_rejected(client: TestClient) -> None:
    response = client.post(
        "/v1/completions",
        content=b'{"prompt": "x", "temperature": NaN}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400


def test_context_length_exceeded_names_the_numbers(client: TestClient) -> None:
    response = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2000})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "256" in error["message"] and "2000" in error["message"]


def test_max_tokens_above_the_server_limit_is_refused(client: TestClient) -> None:
    response = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 10_000})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "limit_exceeded" and error["param"] == "max_tokens"
    assert "2048" in error["message"]


def test_unknown_route_is_a_404_in_openai_shape(client: TestClient) -> None:
    response = client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_typeahead_answers_from_the_last_suggestion(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("return a + b\n")
    prompt = "def add(a, b):\n    "
    body = {"prompt": prompt, "suffix": "\n", "max_tokens": 20, "temperature": 0}
    first = client.post("/v1/completions", json=body).json()
    assert first["choices"][0]["text"] == "return a + b\n"
    calls = len(engine.requests)
    body["prompt"] = prompt + "ret"
    second = client.post("/v1/completions", json=body).json()
    assert second["choices"][0]["text"] == "urn a + b\n"
    assert len(engine.requests) == calls  # the model was not run again
    body["stream"] = True
    streamed = sse_events(client.post("/v1/completions", json=body))
    assert "".join(event["choices"][0]["text"] for event in streamed[:-1]) == "urn a + b\n"


def test_tabby_segments(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("return 1")
    body = {
        "language": "python",
        "segments": {
            "prefix": "def one():\n    ",
            "suffix": "\n",
            "filepath": "a.py",
            "git_url": "https://example.invalid/repo.git",
            "declarations": [{"filepath": "b.py", "body": "def two(): ...\n"}],
            "relevant_snippets_from_changed_files": [
                {"filepath": "c.py", "body": "X = 3\n", "score": 0.5}
            ],
            "clipboard": "",
        },
        "user": "someone",
        "temperature": 0,
        "seed": 1,
        "mode": "standard",
    }
    response = client.post("/v1/completions", json=body, headers={"Authorization": "Bearer t"})
    assert response.status_code == 200
    payload = response.json()
    assert payload["id"] and payload["choices"][0]["index"] == 0
    assert payload["choices"][0]["text"] == "return 1"
    tokens = engine.requests[-1].prompt_tokens
    assert tokens.count(4) == 2  # two other files as <|file_sep|> context
    assert tokens.index(1) > tokens.index(4)  # context before <|fim_prefix|>


def test_empty_prompt_is_answered(client: TestClient, engine: FakeEngine) -> None:
    response = client.post("/v1/completions", json={"prompt": "", "max_tokens": 3})
    assert response.status_code == 200
    assert engine.requests[-1].prompt_tokens == [0]


def test_copilot_extra_is_read_leniently(client: TestClient, engine: FakeEngine) -> None:
    for extra in ("garbage", {"language": 5}, {"language": "python", "next_indent": 4}):
        body = {"prompt": "x", "suffix": "\n", "max_tokens": 2, "extra": extra}
        assert client.post("/v1/completions", json=body).status_code == 200


def test_language_reaches_the_completion_job() -> None:
    from fauxpilot.api.convert import to_job
    from fauxpilot.api.protocol import CompletionRequest

    copilot = CompletionRequest.model_validate({"prompt": "x", "extra": {"language": "go"}})
    assert to_job(copilot, "r", 100).language == "go"
    tabby = CompletionRequest.model_validate(
        {"language": "rust", "segments": {"prefix": "fn", "filepath": "a/b.rs"}}
    )
    job = to_job(tabby, "r", 100)
    assert (job.language, job.path, job.prompts) == ("rust", "a/b.rs", ["fn"])


def test_huge_bodies_are_refused_with_413(engine: FakeEngine) -> None:
    with TestClient(create_app(engine, "fake", config=ApiConfig(max_body_bytes=2048))) as small:
        big = {"prompt": "x" * 5000}
        response = small.post("/v1/completions", json=big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"

        def chunks() -> Iterator[bytes]:
            yield b'{"prompt": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = small.post(
            "/v1/completions", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert (
            small.post("/v1/completions", json={"prompt": "ok", "max_tokens": 2}).status_code == 200
        )
