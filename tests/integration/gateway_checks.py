"""What the gateway tests check through whatever upstream they run on (another FauxPilot,
vLLM, vLLM behind vllm-router)."""

from __future__ import annotations

import openai

from fauxpilot.bench.servers import RunningServer


def openai_client(server: RunningServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def check_infilling_streams_what_it_answers_whole(
    server: RunningServer, key: str, prefix: str, suffix: str
) -> None:
    """A FIM request with `suffix`, greedy: a suggestion, and the stream joins to it."""
    completions = openai_client(server, key).completions
    request = {"model": "x", "prompt": prefix, "suffix": suffix, "max_tokens": 24}
    whole = completions.create(**request, temperature=0)  # type: ignore[call-overload]
    streamed = completions.create(**request, temperature=0, stream=True)  # type: ignore[call-overload]
    joined = "".join(chunk.choices[0].text for chunk in streamed if chunk.choices)
    assert whole.choices[0].text.strip()
    assert joined == whole.choices[0].text
