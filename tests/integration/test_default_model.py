"""The default model, Qwen2.5-Coder-0.5B, filling in the middle through the Copilot route."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from .conftest import Server

pytestmark = [pytest.mark.integration, pytest.mark.default_model]

PREFIX = 'def add(a, b):\n    """Return the sum of a and b."""\n    return '
SUFFIX = "\n\n\nprint(add(2, 3))\n"


def test_fim_completion_through_the_codegen_engine_route(default_server: Server) -> None:
    body = {"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 16, "temperature": 0}
    response = httpx.post(
        f"{default_server.url}/v1/engines/codegen/completions", json=body, timeout=120
    )
    assert response.status_code == 200
    choice = response.json()["choices"][0]
    assert choice["text"].replace(" ", "").startswith("a+b")
    assert choice["finish_reason"] == "stop"  # the model's FIM end token ended it


def test_streamed_fim_equals_non_streamed(default_server: Server) -> None:
    client = openai.OpenAI(base_url=default_server.base_url, api_key="x", max_retries=0)
    prefix = "def is_even(n):\n    "
    whole = client.completions.create(
        model="codegen", prompt=prefix, suffix="\n", max_tokens=24, temperature=0
    ).choices[0]
    streamed = client.completions.create(
        model="codegen", prompt=prefix, suffix="\n", max_tokens=24, temperature=0, stream=True
    )
    assert "".join(chunk.choices[0].text for chunk in streamed) == whole.text
    assert "%" in whole.text or "&" in whole.text


def test_copilot_multiline_stream(default_server: Server) -> None:
    body = {
        "prompt": "import math\n\ndef circle_area(radius):\n",
        "suffix": "\n",
        "max_tokens": 60,
        "temperature": 0,
        "stream": True,
        "logprobs": 2,
        "n": 1,
        "stop": ["\ndef ", "\nclass "],
        "extra": {"language": "python"},
    }
    url = f"{default_server.url}/v1/engines/copilot-codex/completions"
    with httpx.stream("POST", url, json=body, timeout=120) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    text = "".join(json.loads(line[6:])["choices"][0]["text"] for line in lines[:-1])
    assert "math.pi" in text or "3.14" in text


FACTORIAL_OR_SUM = '''def f(n):
    """Return [f(1), ..., f(n)]: f(i) is i! for even i and 1 + 2 + ... + i for odd i."""
    ret = []
    for i in range(1, n + 1):
        if i % 2 == 0:
            x = 1
            for j in range(1, i + 1): x *= j
            ret += [x]
        else:
            x = 0
            for j in range(1, i + 1): x += j
'''


def test_the_suggested_line_is_the_one_that_leads_into_the_code_after_it(
    default_server: Server,
) -> None:
    # Filling in the middle alone, this model writes the suffix's `return ret` here (the
    # HumanEval-Infilling task this comes from, EVAL.md); read left to right it writes the
    # missing line, and that one makes the suffix likely.
    body = {
        "prompt": FACTORIAL_OR_SUM,
        "suffix": "\n    return ret\n",
        "max_tokens": 32,
        "temperature": 0,
        "stop": ["\n"],
    }
    response = httpx.post(f"{default_server.url}/v1/completions", json=body, timeout=120)
    assert response.status_code == 200
    assert response.json()["choices"][0]["text"] == "            ret += [x]"
