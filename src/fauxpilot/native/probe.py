"""A real decode in a child process: the only proof that a llama.cpp build runs on this CPU.

The child loads a model, reads a short prompt (a batched matrix multiply, where AMX and
AVX-512 kernels run) and generates a few tokens greedily, then prints one JSON line. The
parent only reads the child's exit status and that line, so a crash in native code (SIGSEGV,
SIGILL, an abort in a llama.cpp assertion) is a result here, not the end of the caller.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Tests force a crash in the child for the named builds (comma-separated variants, or "all").
CRASH_VARIABLE = "FAUXPILOT_PROBE_CRASH"
PROBE_SECONDS = 300
PROBE_PROMPT = (
    "import math\n\n\ndef is_prime(n: int) -> bool:\n"
    '    """Return True when n is a prime number."""\n'
    "    if n < 2:\n        return False\n    for d in range(2, int(math.sqrt(n)) + 1):\n"
    "        if n % d == 0:\n            return False\n    return True\n\n\n"
    "def primes_below(limit: int) -> list[int]:\n"
)
_FAULT_SIGNALS = {signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    cause: str  # "" when ok; else what went wrong, in words
    prompt_tokens: int = 0
    generated_tokens: int = 0
    prompt_tokens_per_second: float = 0.0
    decode_tokens_per_second: float = 0.0
    system_info: str = ""
    kv_bytes_per_token: int = 0
    crashed: bool = False  # died in native code: a different build may run


def package_root() -> Path:
    """The folder holding the `fauxpilot` package, for a child that has not installed it."""
    return Path(__file__).resolve().parents[2]


def run_probe(
    model: Path,
    *,
    python: str = sys.executable,
    variant: str = "installed",
    tokens: int = 8,
    threads: int = 0,
    timeout: float = PROBE_SECONDS,
    environ: Mapping[str, str] | None = None,
) -> ProbeResult:
    """Decode with the llama.cpp that `python` imports, in a child; never raises for a crash."""
    env = dict(os.environ if environ is None else environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_root()), env.get("PYTHONPATH")]))
    command = [python, "-m", "fauxpilot.native.probe", str(model), "--variant", variant,
               "--tokens", str(tokens), "--threads", str(threads)]  # fmt: skip
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(ok=False, cause=f"the test decode took over {timeout:.0f} s")
    return interpret(done.returncode, done.stdout, done.stderr)


def interpret(returncode: int, stdout: str, stderr: str) -> ProbeResult:
    """Turn the child's exit status and output into a result."""
    if returncode < 0:
        number = -returncode
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else ""
        crashed = number in {int(s) for s in _FAULT_SIGNALS}
        return ProbeResult(ok=False, cause=f"killed by {name or number}", crashed=crashed)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if returncode != 0 or not lines:
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        return ProbeResult(ok=False, cause=f"exit status {returncode}: {last[0][:300]}")
    report = json.loads(lines[-1])
    return ProbeResult(ok=True, cause="", **report)


def _kv_bytes_per_token(llama_cpp: object, model: object) -> int:
    """K and V of one token in f16 across all layers (what a slot's cache costs a token)."""
    lib = llama_cpp
    layers = int(lib.llama_model_n_layer(model))  # type: ignore[attr-defined]
    embd = int(lib.llama_model_n_embd(model))  # type: ignore[attr-defined]
    heads = int(lib.llama_model_n_head(model))  # type: ignore[attr-defined]
    kv_heads = int(lib.llama_model_n_head_kv(model))  # type: ignore[attr-defined]
    return 2 * layers * (embd // max(heads, 1)) * kv_heads * 2


def _decode(model_path: str, tokens: int, threads: int) -> dict[str, object]:
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=model_path,
        n_ctx=512,
        n_batch=512,
        n_threads=threads or None,
        verbose=False,
    )
    prompt = llm.tokenize(PROBE_PROMPT.encode())
    started = time.perf_counter()
    llm.eval(prompt)
    read = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(tokens):
        token = llm.sample(temp=0.0)
        llm.eval([token])
    decoded = time.perf_counter() - started
    return {
        "prompt_tokens": len(prompt),
        "generated_tokens": tokens,
        "prompt_tokens_per_second": round(len(prompt) / read, 1),
        "decode_tokens_per_second": round(tokens / decoded, 1) if tokens else 0.0,
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "kv_bytes_per_token": _kv_bytes_per_token(llama_cpp, llm.model),
    }


def _crash_forced(variant: str) -> bool:
    wanted = {name.strip() for name in os.environ.get(CRASH_VARIABLE, "").split(",")}
    return "all" in wanted or variant in wanted


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fauxpilot.native.probe")
    parser.add_argument("model")
    parser.add_argument("--variant", default="installed")
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if _crash_forced(args.variant):
        ctypes.string_at(0)  # a real segmentation fault, as a broken build gives
    report = _decode(args.model, args.tokens, args.threads)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
