"""llama.cpp's /infill and /completion against a FakeEngine."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from .fakes import SPECIALS, FakeEngine

LLAMA_VIM_BODY = {
    "id_slot": 0,
    "input_prefix": "import os\n\ndef main():\n",
    "input_suffix": "\n\nmain()\n",
    "input_extra": [{"text": "HELPER = 1\n", "time": 1700000000, "filename": "helper.py"}],
    "prompt": "    pri",
    "n_predict": 128,
    "top_k": 40,
    "top_p": 0.99,
    "stream": False,
    "samplers": ["top_k", "top_p", "infill"],
    "cache_prompt": True,
    "t_max_prompt_ms": 500,
    "t_max_predict_ms": 2500,
}


def test_infill_answers_in_llama_cpp_shape(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output('nt("hi")')
    response = client.post("/infill", json=LLAMA_VIM_BODY)
    assert response.status_code == 200
    body = response.json()
    assert body["content"] == 'nt("hi")'
    assert body["stop"] is True and body["truncated"] is False
    assert body["tokens_predicted"] == 8
    assert body["tokens_cached"] == 0
    assert set(body["timings"]) >= {"prompt_n", "prompt_ms", "predicted_n", "predicted_ms"}
    tokens = engine.requests[-1].prompt_tokens
    assert tokens[0] == SPECIALS["<|file_sep|>"]  # repository context first
    middle = tokens.index(SPECIALS["<|fim_middle|>"])
    typed = b"".join(engine.tokenizer.piece(token) for token in tokens[middle + 1 :])
    assert typed == b"    pri"  # the typed part of the line follows the middle token
    assert engine.requests[-1].max_tokens == 128
    assert engine.requests[-1].sampling.greedy


def test_cache_warming_request_generates_nothing(client: TestClient, engine: FakeEngine) -> None:
    body = {"input_extra": [{"text": "A = 1\n", "filename": "a.py"}], "n_predict": 0}
    response = client.post("/infill", json=body)
    assert response.status_code == 200
    assert response.json()["content"] == ""
    assert engine.requests[-1].max_tokens == 0


def test_completion_streams_llama_cpp_events(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("abc")
    response = client.post("/completion", json={"prompt": "x", "n_predict": 8, "stream": True})
    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    assert "".join(event["content"] for event in events) == "abc"
    assert [event["stop"] for event in events][-1] is True
    assert all(event["stop"] is False for event in events[:-1])


def test_llama_cpp_routes_reject_bad_input(client: TestClient) -> None:
    response = client.post("/infill", json={"input_prefix": 5})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert client.post("/completion", json={"prompt": "x", "n_predict": -5}).status_code == 400
