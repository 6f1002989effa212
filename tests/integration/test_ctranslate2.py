"""Hugging Face checkpoints served through the CTranslate2 engine, by a real server process.

1. A tiny CodeGen checkpoint made here is imported (converted once), served, and answers the
   legacy Copilot route with exactly transformers' greedy continuation.
2. The tiny GGUF model, converted GGUF -> Hugging Face -> CTranslate2 (float32), gives the
   GGUF's greedy completions, except where llama.cpp's own top two tokens are within
   NEAR_TIE nats: llama.cpp multiplies 4-bit weights by 8-bit-quantized activations, which
   moves log-probabilities by up to ~1 nat here, so only such near-ties may flip.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from fauxpilot.bench.servers import RunningServer, start_fauxpilot

pytest.importorskip("ctranslate2")
pytest.importorskip("transformers")

from tests.checkpoints import greedy_continuation, make_tiny_codegen
from tests.terminal import bar_lines, run_on_terminal

pytestmark = pytest.mark.integration

NEAR_TIE = 0.5
PROMPTS = [
    "def fibonacci(n):\n",
    "import os\n\ndef list_files(path):\n",
    "class Stack:\n    def __init__(self):\n",
    "# print the numbers from 1 to 10\nfor i in",
    "def is_prime(n):\n    if n < 2:\n        return False\n",
    "const add = (a, b) =>",
    "SELECT name FROM users WHERE",
    "def reverse_string(s):\n    return",
    "The capital of France is",
    "x = [1, 2, 3]\ny = [a * 2 for a in",
]


def _fauxpilot(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fauxpilot", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def _complete(server: RunningServer, route: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(server.url + route, json=body, timeout=120)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_tiny_codegen_checkpoint_is_imported_and_served_through_ctranslate2(
    tmp_path: Path,
) -> None:
    model, tokenizer = make_tiny_codegen(tmp_path / "codegen")
    home = tmp_path / "home"
    # Imported on a terminal: the conversion shows its steps on a bar.
    status, shown = run_on_terminal([
        sys.executable, "-m", "fauxpilot", "models", "import", str(tmp_path / "codegen"),
        "--name", "tiny-codegen", "--home", str(home),
    ])  # fmt: skip
    assert status == 0, shown
    assert "converted for CTranslate2" in shown
    bars = bar_lines(shown, "converting for CTranslate2")
    assert bars and "4/4" in bars[-1] and "done" in bars[-1], shown
    assert any("reading the weights" in bar for bar in bars), shown
    listing = _fauxpilot("models", "list", "--home", str(home))
    assert "tiny-codegen" in listing.stdout and "installed" in listing.stdout

    extra = ("--home", str(home), "--compute-type", "float32")
    server = start_fauxpilot("tiny-codegen", 2, tmp_path / "server.log", extra)
    try:
        _check_answers(server, model, tokenizer)
    finally:
        server.stop()
    assert "converting" not in server.log_path.read_text()  # converted once, at import

    default = start_fauxpilot("tiny-codegen", 2, tmp_path / "int8.log", ("--home", str(home)))
    try:
        answer = _complete(
            default, "/v1/engines/codegen/completions", prompt="def add(a, b):\n", max_tokens=4
        )
        assert answer["choices"][0]["finish_reason"] == "length"
        assert "(int8)" in default.log_path.read_text()
    finally:
        default.stop()


def _check_answers(server: RunningServer, model: Any, tokenizer: Any) -> None:
    prompts = ["def add(a, b):\n", "for i in range(", "class Stack:\n", "import os\n"]
    expected = {prompt: greedy_continuation(model, tokenizer, prompt, 12) for prompt in prompts}
    assert len(set(expected.values())) > 1  # the prompts matter

    route = "/v1/engines/codegen/completions"
    for prompt in prompts:
        answer = _complete(server, route, prompt=prompt, max_tokens=12, temperature=0)
        assert answer["choices"][0]["text"] == expected[prompt]
        assert answer["usage"]["completion_tokens"] == 12

    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    stream = client.completions.create(
        model="tiny-codegen", prompt=prompts[0], max_tokens=12, temperature=0, stream=True
    )
    assert "".join(chunk.choices[0].text for chunk in stream) == expected[prompts[0]]

    scored = client.completions.create(
        model="tiny-codegen", prompt=prompts[1], max_tokens=12, temperature=0, logprobs=2
    )
    logprobs = scored.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens and logprobs.top_logprobs
    assert "".join(logprobs.tokens) == expected[prompts[1]]
    for token, top in zip(logprobs.tokens, logprobs.top_logprobs, strict=True):
        assert max(top, key=lambda candidate: top[candidate]) == token  # greedy = top-1

    def text_for(prompt: str) -> str:
        answer = _complete(server, route, prompt=prompt, max_tokens=12, temperature=0)
        return str(answer["choices"][0]["text"])

    with ThreadPoolExecutor(max_workers=4) as pool:  # batched together: the same answers
        assert list(pool.map(text_for, prompts)) == [expected[prompt] for prompt in prompts]

    with httpx.stream(  # a client that hangs up mid-stream frees its place in the batch
        "POST",
        server.url + "/v1/completions",
        json={"prompt": prompts[0], "max_tokens": 400, "stream": True},
        timeout=30,
    ) as response:
        next(response.iter_lines())
    assert text_for(prompts[2]) == expected[prompts[2]]
    assert _idle_soon(server)

    refused = httpx.post(
        server.url + "/v1/completions",
        json={"prompt": "x", "max_tokens": 2, "logit_bias": {"5": -100}},
        timeout=30,
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "logit_bias"
    assert httpx.get(server.url + "/health", timeout=5).status_code == 200


def test_gguf_to_hf_to_ctranslate2_gives_the_gguf_s_greedy_completions(
    tmp_path: Path, tiny_server: RunningServer
) -> None:
    converted = _fauxpilot("models", "convert", "gguf-to-hf", "smollm2-135m", str(tmp_path / "hf"))
    assert converted.returncode == 0, converted.stderr
    extra = ("--home", str(tmp_path / "home"), "--compute-type", "float32")
    ct2 = start_fauxpilot(str(tmp_path / "hf"), 2, tmp_path / "ct2.log", extra)
    try:
        identical = 0
        for prompt in PROMPTS:
            gguf = _tokens(tiny_server, prompt)
            ours = _tokens(ct2, prompt)
            if ours[0] == gguf[0]:
                identical += 1
                continue
            pairs = zip(gguf[0], ours[0], strict=False)
            step = next((i for i, (a, b) in enumerate(pairs) if a != b), len(ours[0]))
            margin = _top_two_margin(gguf[1][step]) if step < len(gguf[1]) else 0.0
            assert margin < NEAR_TIE, (prompt, step, gguf[0], ours[0], margin)
        assert identical >= len(PROMPTS) // 3, identical
    finally:
        ct2.stop()


def _idle_soon(server: RunningServer) -> bool:
    """Nothing running or waiting within a few seconds (a finished batch ends just after
    its last answer is sent)."""
    for _ in range(50):
        health = httpx.get(server.url + "/health", timeout=5).json()
        if health["active_requests"] == 0 and health["waiting_requests"] == 0:
            return True
        time.sleep(0.1)
    return False


def _tokens(server: RunningServer, prompt: str) -> tuple[list[str], list[dict[str, float]]]:
    answer = _complete(
        server, "/v1/completions", prompt=prompt, max_tokens=16, temperature=0, logprobs=2
    )
    logprobs = answer["choices"][0]["logprobs"]
    return logprobs["tokens"], logprobs["top_logprobs"]


def _top_two_margin(top: dict[str, float]) -> float:
    values = sorted(top.values(), reverse=True)
    return values[0] - values[1] if len(values) > 1 else float("inf")
