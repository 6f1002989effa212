"""Run with an installed bundle's own Python: serve from it and complete once.

Usage: TARGET/.venv/bin/python bundle_check.py TARGET. Everything imported here comes from the
bundle's own `.venv`. Prints one JSON line; exits 0 on a completion.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from fauxpilot.bench.servers import start_fauxpilot


def main(target: Path) -> int:
    config = ("--config", str(target / "config.toml"))
    server = start_fauxpilot("smollm2-135m", 2, target / "server.log", config)
    try:
        body = {"prompt": "def add(a, b):\n    return", "max_tokens": 6}
        answer = httpx.post(f"{server.base_url}/completions", json=body, timeout=120).json()
    finally:
        server.stop()
    print(json.dumps({"model": answer["model"], "text": answer["choices"][0]["text"]}))
    return 0 if answer["choices"][0]["text"] else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
