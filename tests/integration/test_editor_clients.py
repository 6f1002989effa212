"""Each editor client's real request shape against a real server with the real tiny model."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from .conftest import Server

pytestmark = pytest.mark.integration


def data_events(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def test_llama_vim_infill(tiny_server: Server) -> None:
    body = {
        "id_slot": 0,
        "input_prefix": "import os\n\n\ndef list_files(path):\n",
        "input_suffix": "\n\n\nprint(list_files('.'))\n",
        "input_extra": [
            {"text": "def helper():\n    return 1\n", "time": 1700000000, "filename": "util.py"}
        ],
        "prompt": "    return ",
        "n_predict": 32,
        "n_indent": 4,
        "top_k": 40,
        "top_p": 0.99,
        "stream": False,
        "samplers": ["top_k", "top_p", "infill"],
        "cache_prompt": True,
        "t_max_prompt_ms": 500,
        "t_max_predict_ms": 2500,
    }
    response = httpx.post(f"{tiny_server.url}/infill", json=body, timeout=120)
    assert response.status_code == 200
    answer = response.json()
    assert isinstance(answer["content"], str)
    assert answer["truncated"] is False
    assert 0 < answer["tokens_predicted"] <= 32
    assert answer["timings"]["predicted_n"] == answer["tokens_predicted"]
    again = httpx.post(f"{tiny_server.url}/infill", json=body, timeout=120).json()
    # the same context is not read twice: all but the prompt's last token come from the cache
    assert again["tokens_cached"] == again["tokens_evaluated"] - 1 > 10


def test_llama_vim_cache_warming(tiny_server: Server) -> None:
    body = {"input_extra": [{"text": "X = 1\n", "filename": "x.py"}], "n_predict": 0}
    answer = httpx.post(f"{tiny_server.url}/infill", json=body, timeout=60).json()
    assert answer["content"] == "" and answer["tokens_predicted"] == 0


def test_continue_llama_cpp_provider_streams(tiny_server: Server) -> None:
    body = {"prompt": "def square(x):\n", "stream": True, "n_predict": 24, "stop": ["\n\n"],
            "top_k": 40, "top_p": 0.95, "temperature": 0.01}  # fmt: skip
    with httpx.stream("POST", f"{tiny_server.url}/completion", json=body, timeout=120) as response:
        events = [json.loads(event) for event in data_events(response)]
    assert events[-1]["stop"] is True
    text = "".join(event["content"] for event in events)
    assert text and "\n\n" not in text


def test_continue_openai_provider_with_client_templated_prompt(tiny_server: Server) -> None:
    body = {"model": "smollm2-135m", "prompt": "def add(a, b):\n    return", "max_tokens": 16,
            "temperature": 0.01, "top_p": 1, "frequency_penalty": 0, "presence_penalty": 0,
            "stop": ["\n\n"], "stream": True}  # fmt: skip
    url = f"{tiny_server.base_url}/completions"
    with httpx.stream("POST", url, json=body, timeout=120) as response:
        events = data_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert "".join(chunk["choices"][0]["text"] for chunk in chunks)


def test_tabby_agent_segments(tiny_server: Server) -> None:
    body: dict[str, Any] = {
        "language": "python",
        "segments": {
            "prefix": "def greet(name):\n    ",
            "suffix": "\n\ngreet('x')\n",
            "filepath": "greet.py",
            "git_url": "",
            "declarations": [{"filepath": "names.py", "body": "DEFAULT = 'world'\n"}],
            "relevant_snippets_from_changed_files": [],
            "clipboard": "",
        },
        "temperature": 0.1,
        "seed": 0,
        "mode": "standard",
    }
    response = httpx.post(
        f"{tiny_server.base_url}/completions", json=body, timeout=120,
        headers={"Authorization": "Bearer token"},
    )  # fmt: skip
    assert response.status_code == 200
    answer = response.json()
    assert answer["id"] and answer["choices"][0]["index"] == 0
    assert isinstance(answer["choices"][0]["text"], str)
    # The agent then reports what the user did with it (select_kind: a partial, line accept).
    for event_type, query in (("view", ""), ("select", "?select_kind=line")):
        event = {"type": event_type, "completion_id": answer["id"], "choice_index": 0}
        reported = httpx.post(
            f"{tiny_server.base_url}/events{query}", json=event, timeout=30,
            headers={"Authorization": "Bearer token"},
        )  # fmt: skip
        assert reported.status_code == 200
    dashboard = httpx.get(f"{tiny_server.base_url}/dashboard", timeout=30).json()
    python = next(row for row in dashboard["languages"] if row["language"] == "python")
    assert python["view"] >= 1 and python["select"] >= 1


def test_vscode_fauxpilot_inline(tiny_server: Server) -> None:
    """vscode-fauxpilot: the engine route through the OpenAI SDK, no suffix, no stream."""
    client = openai.OpenAI(
        base_url=f"{tiny_server.base_url}/engines/codegen", api_key="dummy", max_retries=0
    )
    answer = client.completions.create(
        model="fastertransformer",
        prompt="def is_even(number):\n    return",
        max_tokens=200,
        temperature=0.1,
        stop=["\n"],
    )
    text = answer.choices[0].text
    assert "\n" not in text
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 200


def test_llama_vscode_infill(tiny_server: Server) -> None:
    """llama.vscode: llama.vim's body plus n_cmpl, a Bearer key when one is set."""
    body = {
        "id_slot": 0,
        "input_prefix": "const items = [1, 2, 3];\n",
        "input_suffix": "\nconsole.log(total);\n",
        "input_extra": [{"text": "export const ZERO = 0;\n", "time": 1, "filename": "zero.js"}],
        "prompt": "const total = ",
        "n_predict": 24,
        "n_cmpl": 1,
        "top_k": 40,
        "top_p": 0.99,
        "stream": False,
        "samplers": ["top_k", "top_p", "infill"],
        "cache_prompt": True,
        "t_max_prompt_ms": 500,
        "t_max_predict_ms": 1000,
    }
    response = httpx.post(
        f"{tiny_server.url}/infill", json=body, timeout=120,
        headers={"Authorization": "Bearer no-key-needed"},
    )  # fmt: skip
    assert response.status_code == 200
    answer = response.json()
    assert isinstance(answer["content"], str)
    assert 0 < answer["tokens_predicted"] <= 24
    assert {"truncated", "tokens_cached", "timings"} <= answer.keys()


def test_openai_sdk_chat(tiny_server: Server) -> None:
    client = openai.OpenAI(base_url=tiny_server.base_url, api_key="x", max_retries=0)
    messages: Any = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
    reply = client.chat.completions.create(
        model="smollm2-135m", messages=messages, max_tokens=40, temperature=0
    )
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    streamed = client.chat.completions.create(
        model="smollm2-135m", messages=messages, max_tokens=40, temperature=0, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    assert text == reply.choices[0].message.content
