"""Decode speed and typing latency with the engine in its own process and in the server's.

    python benchmarks/engine_process.py [--model qwen2.5-coder-0.5b] [--rounds 3]

Every round starts one server of each kind in turn (the same model, threads and slots), runs
`fauxpilot bench`'s decode, typing and unpredictable-line scenarios against it (typing is
mostly served by typeahead; every keystroke of the unpredictable line reaches the engine),
and stops it; a round also times llama-cpp-python in-process on one sequence. Medians over
the rounds are printed.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from pathlib import Path

from fauxpilot.bench.cli import run_scenarios
from fauxpilot.bench.inprocess import inprocess_decode_rate
from fauxpilot.bench.scenarios import BenchConfig
from fauxpilot.bench.servers import start_fauxpilot
from fauxpilot.config.settings import Settings
from fauxpilot.models.resolve import resolve_model
from fauxpilot.models.store import ModelStore

KINDS = {
    "engine process": ("--engine-process",),
    "in-process": ("--no-engine-process",),
}


def main() -> int:
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    config = BenchConfig()
    logs = Path(tempfile.mkdtemp(prefix="fauxpilot-engine-process-"))
    decode: dict[str, list[float]] = {kind: [] for kind in [*KINDS, "llama-cpp-python"]}
    typing: dict[str, dict[str, list[float]]] = {
        scenario: {kind: [] for kind in KINDS} for scenario in ("typing", "unpredictable")
    }
    model_path = resolve_model(args.model, ModelStore(Settings().home)).path
    for number in range(args.rounds):
        for kind, flags in KINDS.items():
            server = start_fauxpilot(args.model, args.threads, logs / f"{number}-{kind}.log", flags)
            try:
                results = run_scenarios(server.url, ["decode", *typing], config)
            finally:
                server.stop()
            decode[kind].append(results["decode"].tokens_per_second)
            for scenario, by_kind in typing.items():
                by_kind[kind].append(results[scenario].median)
        rate = inprocess_decode_rate(model_path, args.threads, config.decode_tokens, 3)
        decode["llama-cpp-python"].append(rate)
    for kind, rates in decode.items():
        sys.stdout.write(f"decode {kind}: {statistics.median(rates):.1f} tokens/s {rates}\n")
    for scenario, kinds in typing.items():
        for kind, medians in kinds.items():
            median = statistics.median(medians)
            sys.stdout.write(f"{scenario} {kind}: median {median:.3f} s {medians}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
