"""The reference for raw decode speed: llama-cpp-python used in-process on one sequence."""

from __future__ import annotations

import time
from pathlib import Path

from fauxpilot.bench.scenarios import DECODE_PROMPT


def inprocess_decode_rate(model_path: Path, threads: int, tokens: int, runs: int) -> float:
    """Best tokens/s after the first token over `runs` greedy streamed completions."""
    from llama_cpp import Llama

    llm = Llama(str(model_path), n_ctx=2048, n_threads=threads, verbose=False)
    best = 0.0
    for _ in range(runs):
        llm.reset()  # type: ignore[no-untyped-call]
        started = time.perf_counter()
        first = 0.0
        count = 0
        for _chunk in llm.create_completion(
            DECODE_PROMPT, max_tokens=tokens, temperature=0.0, stream=True
        ):
            count += 1
            if count == 1:
                first = time.perf_counter() - started
        elapsed = time.perf_counter() - started - first
        if count > 1 and elapsed > 0:
            best = max(best, (count - 1) / elapsed)
    return best
