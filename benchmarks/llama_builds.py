"""Prompt and decode speed of llama.cpp builds, each in its own venv, by set-up's probe.

    python benchmarks/llama_builds.py MODEL.gguf VENV [VENV ...] [--rounds 3] [--tokens 128]

Each venv holds one llama-cpp-python build (for example one per `FAUXPILOT_LLAMA_BUILD`);
every round decodes once with each, in a child process, and the medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from fauxpilot.native.probe import run_probe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("venvs", type=Path, nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    prompt: dict[Path, list[float]] = {venv: [] for venv in args.venvs}
    decode: dict[Path, list[float]] = {venv: [] for venv in args.venvs}
    for _ in range(args.rounds):
        for venv in args.venvs:
            python = str(venv / "bin" / "python")
            result = run_probe(args.model, python=python, tokens=args.tokens, threads=args.threads)
            if not result.ok:
                sys.stderr.write(f"{venv}: {result.cause}\n")
                return 1
            prompt[venv].append(result.prompt_tokens_per_second)
            decode[venv].append(result.decode_tokens_per_second)
    for venv in args.venvs:
        sys.stdout.write(
            f"{venv}: prompt {statistics.median(prompt[venv]):.1f} tokens/s, "
            f"decode {statistics.median(decode[venv]):.1f} tokens/s\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
