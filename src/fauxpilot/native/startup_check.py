"""Before the server loads a model in its own process: has this llama.cpp build, on this CPU,
decoded this model in a child process yet? A crash there is a clear error; here it would be
a silent death at the first request.

A passed check is remembered (FAUXPILOT_HOME/engine-checks.json), keyed by the llama.cpp
library files, the CPU and the model file, so only the first start after a change pays it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path

from fauxpilot.native.builds import BUILD_VARIABLE
from fauxpilot.native.cpu import read_cpu
from fauxpilot.native.probe import run_probe

log = logging.getLogger(__name__)

CHECKS_FILE = "engine-checks.json"


class EngineCrashError(RuntimeError):
    """The installed llama.cpp build dies on this CPU; the message says how to fix it."""


def llama_library_files() -> list[Path]:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    return sorted(lib.glob("*.so*")) + sorted(lib.glob("*.dylib"))


def _identity(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def check_key(model: Path) -> str:
    parts = [read_cpu().key(), _identity(model), *map(_identity, llama_library_files())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def _read_checks(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(path: Path, key: str, tokens_per_second: float) -> None:
    checks = _read_checks(path)
    checks[key] = tokens_per_second
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(checks, indent=1) + "\n")
    os.replace(partial, path)


def ensure_engine_runs(model: Path, home: Path, threads: int) -> None:
    """Raise EngineCrashError if decoding `model` crashes the installed llama.cpp here."""
    checks = home / CHECKS_FILE
    key = check_key(model)
    if key in _read_checks(checks):
        return
    log.info("checking that llama.cpp decodes %s on this CPU (first start only)", model.name)
    result = run_probe(model, tokens=2, threads=threads)
    if result.crashed:
        raise EngineCrashError(
            f"the llama.cpp build installed here crashed in a test decode of {model.name} "
            f"({result.cause}): it uses CPU features this machine does not enable (often AMX, "
            "which many VMs report without enabling). Fix: run ./scripts/setup.sh again, which "
            f"tests each build and installs one that runs, or force one: {BUILD_VARIABLE}="
            "no-amx ./scripts/setup.sh (or portable). `fauxpilot doctor` shows the details."
        )
    if not result.ok:
        # Not a crash: loading in-process reports the real error with its own message.
        log.warning("the test decode in a child process failed: %s", result.cause)
        return
    _remember(checks, key, result.decode_tokens_per_second)
