"""A real server with the real tiny model, driven by the official openai client and raw HTTP."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from .conftest import Server

pytestmark = pytest.mark.integration

PROMPT = "def fibonacci(n):\n    "


def client_for(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="dummy", max_retries=0)


def greedy(server: Server, prompt: str, max_tokens: int = 24, **extra: Any) -> dict[str, Any]:
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, **extra}
    response = httpx.post(f"{server.base_url}/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def sse_chunks(response: httpx.Response) -> list[Any]:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def test_openai_client_completion(tiny_server: Server) -> None:
    completion = client_for(tiny_server).completions.create(
        model="smollm2-135m", prompt=PROMPT, max_tokens=20, temperature=0
    )
    choice = completion.choices[0]
    assert completion.id.startswith("cmpl-")
    assert choice.text.strip()
    assert choice.finish_reason in {"stop", "length"}
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 3
    assert 0 < completion.usage.completion_tokens <= 20


def test_joined_stream_equals_non_streamed_text(tiny_server: Server) -> None:
    client = client_for(tiny_server)
    whole = client.completions.create(model="codegen", prompt=PROMPT, max_tokens=40, temperature=0)
    chunks = list(
        client.completions.create(
            model="codegen", prompt=PROMPT, max_tokens=40, temperature=0, stream=True
        )
    )
    assert len(chunks) > 5
    assert "".join(chunk.choices[0].text for chunk in chunks) == whole.choices[0].text
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_copilot_vim_request(tiny_server: Server) -> None:
    body = {
        "prompt": "# Path: app.py\nimport os\n\ndef main():\n    ",
        "suffix": "\n\nif __name__ == '__main__':\n    main()\n",
        "max_tokens": 500,
        "temperature": 0,
        "top_p": 1,
        "n": 1,
        "stop": ["\n"],
        "logprobs": 2,
        "nwo": "user/repo",
        "stream": True,
        "extra": {
            "language": "python",
            "next_indent": 0,
            "trim_by_indentation": True,
            "prompt_tokens": 12,
            "suffix_tokens": 9,
        },
        "logit_bias": {"50256": -100},
    }
    headers = {
        "Authorization": "Bearer 1",
        "X-Request-Id": "copilot-req-1",
        "Openai-Organization": "github-copilot",
        "OpenAI-Intent": "copilot-ghost",
        "VScode-SessionId": "s",
        "VScode-MachineId": "m",
        "Editor-Version": "vim/9.0",
        "Editor-Plugin-Version": "copilot.vim/1.10",
        "User-Agent": "GithubCopilot/1.10",
    }
    token = httpx.get(f"{tiny_server.url}/copilot_internal/v2/token", timeout=10)
    assert token.status_code == 200 and token.json()["token"]
    url = f"{tiny_server.url}/v1/engines/copilot-codex/completions"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "copilot-req-1"
        assert "openai-processing-ms" in response.headers
        events = sse_chunks(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    text = "".join(chunk["choices"][0]["text"] for chunk in chunks)
    assert "\n" not in text
    assert chunks[-1]["choices"][0]["finish_reason"] in {"stop", "length"}
    for chunk in chunks:
        logprobs = chunk["choices"][0]["logprobs"]
        assert len(logprobs["tokens"]) == len(logprobs["token_logprobs"])
        assert all(len(top) <= 2 for top in logprobs["top_logprobs"])


def test_vscode_fauxpilot_request(tiny_server: Server) -> None:
    body = {
        "model": "fastertransformer",
        "prompt": "import numpy as np\n\ndef mean(values):\n",
        "max_tokens": 200,
        "temperature": 0.1,
        "stop": ["\n"],
    }
    response = httpx.post(
        f"{tiny_server.url}/v1/engines/codegen/completions",
        json=body,
        headers={"Authorization": "Bearer dummy"},
        timeout=120,
    )
    assert response.status_code == 200
    choice = response.json()["choices"][0]
    assert "\n" not in choice["text"]
    assert choice["finish_reason"] in {"stop", "length"}


def test_logprobs_are_the_models_own(tiny_server: Server) -> None:
    body = greedy(tiny_server, PROMPT, max_tokens=12, logprobs=3)
    logprobs = body["choices"][0]["logprobs"]
    assert "".join(logprobs["tokens"]) == body["choices"][0]["text"]
    for chosen, top in zip(logprobs["token_logprobs"], logprobs["top_logprobs"], strict=True):
        assert len(top) == 3
        assert chosen <= 0
        assert math.isclose(chosen, max(top.values()), abs_tol=1e-4)  # greedy picks the top
        assert sum(math.exp(value) for value in top.values()) <= 1.0 + 1e-6
    offsets = logprobs["text_offset"]
    assert offsets == sorted(offsets) and offsets[0] == 0


def test_stop_string_across_tokens(tiny_server: Server) -> None:
    reference = greedy(tiny_server, PROMPT, max_tokens=40)["choices"][0]["text"]
    assert len(reference) > 12
    stop = reference[8:11]
    expected = reference[: reference.index(stop)]
    stopped = greedy(tiny_server, PROMPT, max_tokens=40, stop=[stop])["choices"][0]
    assert stopped["text"] == expected
    assert stopped["finish_reason"] == "stop"


def test_echo_n_and_seeded_sampling(tiny_server: Server) -> None:
    echoed = greedy(tiny_server, PROMPT, max_tokens=5, echo=True, logprobs=1)["choices"][0]
    assert echoed["text"].startswith(PROMPT)
    assert echoed["logprobs"]["token_logprobs"][0] is None
    body = {"prompt": PROMPT, "max_tokens": 8, "temperature": 1.0, "n": 3, "seed": 42}
    first = httpx.post(f"{tiny_server.base_url}/completions", json=body, timeout=120).json()
    second = httpx.post(f"{tiny_server.base_url}/completions", json=body, timeout=120).json()
    assert [c["index"] for c in first["choices"]] == [0, 1, 2]
    assert [c["text"] for c in first["choices"]] == [c["text"] for c in second["choices"]]


def test_concurrent_greedy_requests_equal_solo(tiny_server: Server) -> None:
    prompts = ["def add(a, b):\n", "class Stack:\n", "import json\n\n", "# sort a list\n"]
    solo = [greedy(tiny_server, prompt)["choices"][0]["text"] for prompt in prompts]
    with ThreadPoolExecutor(len(prompts)) as pool:
        together = list(pool.map(lambda p: greedy(tiny_server, p)["choices"][0]["text"], prompts))
    assert together == solo


def test_long_prompt_is_trimmed_not_refused(tiny_server: Server) -> None:
    prompt = "".join(f"value_{number} = {number} * 2\n" for number in range(3000))
    body = greedy(tiny_server, prompt, max_tokens=8)
    assert body["usage"]["prompt_tokens"] <= 4096 - 8


BAD = [
    (b'{"prompt": ', 400, "invalid_request_error", None),
    (json.dumps({"prompt": "x", "temperature": 5}).encode(), 400, "invalid_request_error", None),
    # Over the server's limit of choices: refused the way max_tokens over its limit is.
    (
        json.dumps({"prompt": "x", "n": 500}).encode(),
        400,
        "invalid_request_error",
        "limit_exceeded",
    ),
    (
        json.dumps({"prompt": "x", "max_tokens": 100000}).encode(),
        400,
        "invalid_request_error",
        "limit_exceeded",
    ),
]


@pytest.mark.parametrize(("body", "status", "kind", "code"), BAD)
def test_bad_input_keeps_the_server_serving(
    tiny_server: Server, body: bytes, status: int, kind: str, code: str | None
) -> None:
    response = httpx.post(
        f"{tiny_server.base_url}/completions",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind
    assert response.json()["error"]["code"] == code
    assert greedy(tiny_server, "x = ", max_tokens=2)["choices"][0]["finish_reason"]


def test_clients_that_disconnect_mid_stream_free_their_slots(tiny_server: Server) -> None:
    body = {"prompt": PROMPT, "max_tokens": 400, "temperature": 0.8, "stream": True}

    def read_one_chunk_then_hang_up(_: int) -> bool:
        url = f"{tiny_server.base_url}/completions"
        with httpx.stream("POST", url, json=body, timeout=120) as response:
            return any(line.startswith("data: ") for line in response.iter_lines())

    with ThreadPoolExecutor(10) as pool:
        answered = list(pool.map(read_one_chunk_then_hang_up, range(50)))
    assert all(answered)
    deadline = time.monotonic() + 15
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        health = httpx.get(f"{tiny_server.url}/health", timeout=5).json()
        if health["active_requests"] == 0 and health["free_slots"] == health["total_slots"]:
            break
        time.sleep(0.2)
    assert health["active_requests"] == 0
    assert health["free_slots"] == health["total_slots"]
    assert greedy(tiny_server, PROMPT, max_tokens=4)["choices"][0]["text"]
