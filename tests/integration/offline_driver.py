"""Run inside a fresh network namespace (`unshare --net`): serve and complete with no network.

Started by test_offline.py. Exits 0 when the server loaded, answered, and never tried to reach
a non-loopback address; prints what went wrong otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import openai

from fauxpilot.bench.servers import start_fauxpilot

# Loaded into the server process through PYTHONPATH: every attempt to resolve or reach an
# address that is not loopback is appended to the file named by FAUXPILOT_NET_AUDIT.
AUDIT_HOOK = """
import os, sys
_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")
_FILE = os.environ["FAUXPILOT_NET_AUDIT"]

def _remote(host):
    return isinstance(host, str) and not host.startswith(_LOOPBACK)

def _hook(event, args):
    target = None
    if event == "socket.getaddrinfo":
        target = args[0]
    elif event in ("socket.connect", "socket.sendto") and isinstance(args[1], tuple):
        target = args[1][0]
    if target is not None and _remote(target if isinstance(target, str) else str(target)):
        with open(_FILE, "a") as sink:
            sink.write(f"{event} {target!r}\\n")

sys.addaudithook(_hook)
"""


def network_is_blocked() -> bool:
    try:
        socket.create_connection(("1.1.1.1", 443), timeout=3).close()
    except OSError:
        return True
    return False


def main(work: Path) -> int:
    logging.basicConfig(level=logging.INFO)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if not network_is_blocked():
        print("the namespace still reaches the internet; nothing would be proven")
        return 3
    hook_dir = work / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK)
    audit = work / "network-attempts.txt"
    os.environ["PYTHONPATH"] = os.pathsep.join([str(hook_dir), os.environ.get("PYTHONPATH", "")])
    os.environ["FAUXPILOT_NET_AUDIT"] = str(audit)

    server = start_fauxpilot("smollm2-135m", 2, work / "server.log")
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        whole = client.completions.create(
            model="codegen", prompt="def add(a, b):\n    return", max_tokens=8, temperature=0
        )
        streamed = client.completions.create(
            model="codegen", prompt="import os\n", max_tokens=8, stream=True
        )
        pieces = [chunk.choices[0].text for chunk in streamed if chunk.choices]
    finally:
        server.stop()
    attempts = audit.read_text().splitlines() if audit.exists() else []
    report = {
        "completion": whole.choices[0].text,
        "streamed_chunks": len(pieces),
        "network_attempts": attempts,
    }
    print(json.dumps(report))
    ok = bool(whole.choices[0].text) and bool(pieces) and not attempts
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
