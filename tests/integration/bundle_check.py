"""Run with an installed bundle's own Python: serve from it and complete once (stdlib only).

Usage: TARGET/.venv/bin/python bundle_check.py TARGET. Prints one JSON line; exits 0 on a
completion.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become healthy")


def main(target: Path) -> int:
    port = free_port()
    command = [str(target / ".venv/bin/fauxpilot"), "serve", "--config",
               str(target / "config.toml"), "--port", str(port), "--threads", "2"]  # fmt: skip
    with (target / "server.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        body = json.dumps({"prompt": "def add(a, b):\n    return", "max_tokens": 6}).encode()
        request = urllib.request.Request(
            f"{url}/v1/completions", body, {"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.load(response)
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(json.dumps({"model": answer["model"], "text": answer["choices"][0]["text"]}))
    return 0 if answer["choices"][0]["text"] else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
