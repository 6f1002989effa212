"""The reference for `fauxpilot eval humaneval`: the same greedy prompts given to
llama-cpp-python in-process, with no server in between. Run:

    .venv/bin/python benchmarks/humaneval_inprocess.py MODEL.gguf [--limit N]

Our server must not lose quality against this (EVAL.md compares the two).
"""

from __future__ import annotations

import argparse
import logging
import sys

from llama_cpp import Llama

from fauxpilot.evaluation.client import HUMANEVAL_STOPS, truncate_at_stops
from fauxpilot.evaluation.sandbox import Sandbox
from fauxpilot.evaluation.sandbox_limits import Limits
from fauxpilot.evaluation.tasks import load_humaneval, program_for

log = logging.getLogger("humaneval-inprocess")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    llm = Llama(args.model, n_ctx=2048, n_threads=args.threads, verbose=False)
    sandbox = Sandbox.detect(Limits(timeout=10))
    tasks = load_humaneval()[: args.limit]
    passed = 0
    for number, task in enumerate(tasks, start=1):
        output = llm.create_completion(
            task.prompt, max_tokens=args.max_tokens, temperature=0.0, stop=list(HUMANEVAL_STOPS)
        )
        assert isinstance(output, dict)  # not streamed
        completion = truncate_at_stops(str(output["choices"][0]["text"]), HUMANEVAL_STOPS)
        passed += sandbox.run(program_for(task, completion)).passed
        if number % 20 == 0:
            log.info("%d/%d tasks, %d passed", number, len(tasks), passed)
    share = 100 * passed / len(tasks)
    sys.stdout.write(f"in-process pass@1: {passed}/{len(tasks)} = {share:.1f}%\n")
    sys.stdout.write(f"sandbox: {sandbox.isolation.description}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
