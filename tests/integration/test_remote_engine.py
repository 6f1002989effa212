"""The gateway (`--engine remote`) in front of a real upstream: another FauxPilot server
with the tiny model (vLLM's own test is test_vllm_gateway.py). Driven by the official
`openai` client and raw HTTP, as editors are."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from fauxpilot.bench.servers import RunningServer, start_fauxpilot

from .gateway_checks import check_infilling_streams_what_it_answers_whole, openai_client

pytestmark = pytest.mark.integration

KEY = "sk-gateway-test-0001"
PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\n\nprint(add(2, 3))\n"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("upstream") / "server.log"
    server = start_fauxpilot("smollm2-135m", 2, log_path, ("--no-typeahead",))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(
    upstream: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("gateway") / "server.log"
    flags = ("--engine", "remote", "--upstream", upstream.url, "--api-key", KEY)
    server = start_fauxpilot("smollm2-135m", 1, log_path, flags)
    yield server
    server.stop()


def client(server: RunningServer, key: str = KEY) -> openai.OpenAI:
    return openai_client(server, key)


def test_infilling_streams_what_it_answers_whole(gateway: RunningServer) -> None:
    check_infilling_streams_what_it_answers_whole(gateway, KEY, PREFIX, SUFFIX)


def test_the_gateway_answers_as_the_upstream_does(
    gateway: RunningServer, upstream: RunningServer
) -> None:
    """Same tokens, same log-probabilities: the gateway adds no sampling of its own."""

    def fib(server: RunningServer, key: str) -> openai.types.Completion:
        return client(server, key).completions.create(
            model="x", prompt="def fib(n):", max_tokens=12, temperature=0, logprobs=2
        )

    through, direct = fib(gateway, KEY), fib(upstream, "unused")
    assert through.choices[0].text == direct.choices[0].text
    assert through.choices[0].logprobs is not None and direct.choices[0].logprobs is not None
    ours = through.choices[0].logprobs.token_logprobs or []
    theirs = direct.choices[0].logprobs.token_logprobs or []
    assert ours == pytest.approx(theirs, abs=1e-4)
    assert len(through.choices[0].logprobs.top_logprobs or []) == len(ours)


def test_a_stop_string_across_tokens_ends_the_suggestion(gateway: RunningServer) -> None:
    def fib(stop: list[str] | None) -> openai.types.CompletionChoice:
        completion = client(gateway).completions.create(
            model="x", prompt="def fib(n):", max_tokens=24, temperature=0, stop=stop
        )
        return completion.choices[0]

    free = fib(None).text
    assert free.find("fib(") > 0, free
    stopped = fib(["fib("])
    assert stopped.text == free[: free.find("fib(")]
    assert stopped.finish_reason == "stop"


def test_editor_shapes_and_keys(gateway: RunningServer) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    infill = httpx.post(
        f"{gateway.url}/infill",
        json={"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 12},
        headers=headers,
        timeout=60,
    )
    assert infill.status_code == 200 and infill.json()["content"].strip()
    copilot = httpx.post(
        f"{gateway.url}/v1/engines/codegen/completions",
        json={"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 12, "stop": ["\n"]},
        headers=headers,
        timeout=60,
    )
    assert copilot.status_code == 200 and copilot.json()["choices"][0]["text"]
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "sk-wrong-key-0000").completions.create(model="x", prompt="x")


def test_a_dead_upstream_is_a_503_and_health_says_so(tmp_path: Path) -> None:
    upstream = start_fauxpilot("smollm2-135m", 2, tmp_path / "upstream.log")
    flags = ("--engine", "remote", "--upstream", upstream.url)
    gateway = start_fauxpilot("smollm2-135m", 1, tmp_path / "gateway.log", flags)
    try:
        body = {"prompt": "def f():", "max_tokens": 4, "temperature": 0}
        assert httpx.post(f"{gateway.url}/v1/completions", json=body, timeout=60).is_success
        seen = httpx.get(f"{gateway.url}/health", timeout=5).json()["upstream"]
        assert seen["url"] == upstream.url and seen["replicas"] is None  # not a router
        upstream.stop()
        health = _wait_for(gateway, "failed")
        assert "upstream" in health["detail"]
        refused = httpx.post(f"{gateway.url}/v1/completions", json=body, timeout=60)
        assert refused.status_code == 503
        assert refused.json()["error"]["type"] == "server_error"
        streamed = httpx.post(
            f"{gateway.url}/v1/completions", json={**body, "stream": True}, timeout=60
        )
        assert streamed.status_code == 503  # refused before any status line: never an empty 200
        assert gateway.process.poll() is None
    finally:
        gateway.stop()
        upstream.stop()


def _wait_for(server: RunningServer, status: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        health = httpx.get(f"{server.url}/health", timeout=5).json()
        if health["status"] == status:
            return dict(health)
        time.sleep(0.2)
    raise AssertionError(f"health never said {status}: {json.dumps(health)}")
