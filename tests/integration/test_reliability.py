"""A real server under hostile input, fuzzing, a disconnect storm and a soak (RELIABILITY.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from fauxpilot.bench.servers import start_fauxpilot

from .conftest import Server

pytestmark = [pytest.mark.integration, pytest.mark.reliability]
log = logging.getLogger(__name__)

KEY = "sk-reliability-0001"
AUTH = {"Authorization": f"Bearer {KEY}"}
# The tiny model reads prompts at about 100 tokens/s on a busy 2-core machine: keep fuzzed
# and hostile requests short through the server's own limits, which is what they are for.
LIMITS = ("--max-prompt-tokens", "256", "--max-tokens-limit", "32")
SOAK_SECONDS = float(os.environ.get("FAUXPILOT_SOAK_SECONDS", "120"))
SOAK_CLIENTS = 16
STORM_CLIENTS = 100


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Keys on, tight request limits, room for 100 waiting streams."""
    log_path = tmp_path_factory.mktemp("guarded") / "server.log"
    extra = (*LIMITS, "--api-key", KEY, "--max-waiting", "128",
             "--max-concurrent-requests", "128", "--max-concurrent-per-key", "128")  # fmt: skip
    server = start_fauxpilot("smollm2-135m", 2, log_path, extra)
    yield server
    server.stop()


def _post(server: Server, path: str, body: bytes, timeout: float = 60) -> httpx.Response:
    headers = {"content-type": "application/json", **AUTH}
    return httpx.post(f"{server.url}{path}", content=body, headers=headers, timeout=timeout)


def _nest(depth: int) -> bytes:
    return b'{"prompt": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE: list[tuple[str, bytes, int]] = [
    ("10 MB body", json.dumps({"prompt": "a" * 10_000_000}).encode(), 413),
    ("JSON nested 100,000 deep", _nest(100_000), 400),
    ("objects nested 50,000 deep", b'{"extra": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001, 400),
    ("invalid UTF-8", b'{"prompt": "\xff\xfe\xfd"}', 400),
    ("raw control characters", b'{"prompt": "a\x00\x1bb"}', 400),
    ("NaN", b'{"prompt": "x", "temperature": NaN}', 400),
    ("Infinity", b'{"prompt": "x", "max_tokens": Infinity}', 400),
    ("-Infinity", b'{"prompt": "x", "top_p": -Infinity}', 400),
    ("1e999", b'{"prompt": "x", "temperature": 1e999}', 400),
    ("negative max_tokens", b'{"prompt": "x", "max_tokens": -1}', 400),
    ("huge max_tokens", b'{"prompt": "x", "max_tokens": 1000000000000000000000000}', 400),
    ("5,000-digit integer", b'{"prompt": "x", "max_tokens": ' + b"9" * 5000 + b"}", 400),
    ("huge n", b'{"prompt": "x", "n": 100000000000000000000}', 400),
    ("negative n", b'{"prompt": "x", "n": -3}', 400),
    ("n above the server limit", b'{"prompt": "x", "n": 100}', 400),
    ("huge seed", b'{"prompt": "x", "seed": 1' + b"0" * 40 + b"}", 400),
    ("token id outside the vocabulary", b'{"prompt": [2147483646]}', 400),
    ("negative token id", b'{"prompt": [-1]}', 400),
    ("10,000 prompts", json.dumps({"prompt": ["x"] * 10_000}).encode(), 400),
    ("10,000 token prompts", json.dumps({"prompt": [[1]] * 10_000}).encode(), 400),
    ("1,000 stop strings", json.dumps({"prompt": "x", "stop": ["a"] * 1000}).encode(), 400),
    ("a JSON array", b"[1, 2, 3]", 400),
    ("an empty body", b"", 400),
    ("a wrong type", b'{"prompt": {"a": 1}}', 400),
]


@pytest.mark.parametrize(("name", "body", "status"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_input_gets_a_clean_4xx(
    guarded_server: Server, name: str, body: bytes, status: int
) -> None:
    response = _post(guarded_server, "/v1/completions", body)
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert error["message"] and error["type"]


def test_escaped_control_characters_are_ordinary_text(guarded_server: Server) -> None:
    response = _post(guarded_server, "/v1/completions", b'{"prompt": "a\\u0000b", "max_tokens": 2}')
    assert response.status_code == 200, response.text


def test_hostile_input_on_every_generation_route(guarded_server: Server) -> None:
    for path in ("/v1/chat/completions", "/infill", "/completion", "/v1/engines/x/completions"):
        for body in (_nest(50_000), b'{"temperature": NaN}', b"\xff"):
            response = _post(guarded_server, path, body)
            assert response.status_code == 400, (path, body[:20], response.text[:200])
    health = httpx.get(f"{guarded_server.url}/health", timeout=5).json()
    assert health["status"] == "ok"


def test_openapi_fuzzing_finds_no_server_error(guarded_server: Server, tmp_path: Path) -> None:
    """schemathesis drives every operation in the server's own OpenAPI schema."""
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if schemathesis is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    examples = os.environ.get("FAUXPILOT_FUZZ_EXAMPLES", "40")
    command = [
        schemathesis, "run", f"{guarded_server.url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", examples, "--workers", "2",
        "--header", f"Authorization: Bearer {KEY}", "--request-timeout", "60",
        "--seed", "20261127", "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    summary = run.stdout[-3000:]
    log.info("schemathesis:\n%s", summary)
    assert guarded_server.process.poll() is None, "the server died under fuzzing"
    report = _junit_problems(next(tmp_path.glob("junit-*.xml")))
    assert report["operations"] >= 10, summary
    assert report["failures"] == [], summary
    # Errors of the fuzzer itself (hypothesis failing to print a strategy, say) say nothing
    # about the server; network errors and timeouts do.
    assert [e for e in report["errors"] if not e.startswith("Runtime Error")] == [], summary


def _junit_problems(path: Path) -> dict[str, Any]:
    root = ElementTree.parse(path).getroot()
    cases = list(root.iter("testcase"))
    return {
        "operations": len(cases),
        "failures": [(case.get("name"), (f.text or "")[:300]) for case in cases
                     for f in case.findall("failure")],
        "errors": [(e.text or "").strip() for case in cases for e in case.findall("error")],
    }  # fmt: skip


async def _stream_then_hang_up(client: httpx.AsyncClient, url: str, number: int) -> bool:
    body = {"prompt": f"# file {number}\ndef f{number}(", "max_tokens": 32, "stream": True}
    async with client.stream("POST", url, json=body, headers=AUTH) as response:
        if response.status_code != 200:
            return False
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                return True  # leaving the block closes the connection mid-stream
    return False


def _wait_all_slots_free(server: Server, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        health = httpx.get(f"{server.url}/health", timeout=5).json()
        idle = health["active_requests"] == 0 and health["waiting_requests"] == 0
        if idle and health["free_slots"] == health["total_slots"]:
            break
        time.sleep(0.2)
    return health


def test_a_storm_of_100_disconnecting_streams_leaves_every_slot_free(
    guarded_server: Server,
) -> None:
    async def storm() -> list[bool]:
        limits = httpx.Limits(max_connections=STORM_CLIENTS)
        async with httpx.AsyncClient(timeout=300, limits=limits) as client:
            url = f"{guarded_server.url}/v1/completions"
            return await asyncio.gather(
                *(_stream_then_hang_up(client, url, number) for number in range(STORM_CLIENTS))
            )

    started = time.monotonic()
    streamed = asyncio.run(storm())
    log.info("storm: %d of %d streams started, %.1f s", sum(streamed), len(streamed),
             time.monotonic() - started)  # fmt: skip
    assert all(streamed)
    health = _wait_all_slots_free(guarded_server)
    assert health["active_requests"] == 0 and health["waiting_requests"] == 0
    assert health["free_slots"] == health["total_slots"]
    body = json.dumps({"prompt": "def add(a, b):\n    return", "max_tokens": 4}).encode()
    assert _post(guarded_server, "/v1/completions", body).status_code == 200


# --- the soak ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def soak_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Default keys-off loopback set-up with a small bound in flight, so refusals happen."""
    log_path = tmp_path_factory.mktemp("soak") / "server.log"
    extra = (*LIMITS, "--max-concurrent-requests", "15")
    server = start_fauxpilot("smollm2-135m", 2, log_path, extra)
    yield server
    server.stop()


SNIPPETS = [
    "import os\n\ndef list_python_files(root):\n    ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n",
    "def parse_args(argv):\n    parser = argparse.ArgumentParser()\n    parser.add_argument(",
    "for index, line in enumerate(lines):\n    if line.startswith('#'):\n        ",
]


async def _soak_client(
    client: httpx.AsyncClient, url: str, number: int, until: float, outcomes: Counter[str]
) -> None:
    turn = 0
    while time.monotonic() < until:
        kind = ("normal", "streamed", "cancelled")[(number + turn) % 3]
        prompt = f"# client {number} turn {turn}\n" + SNIPPETS[turn % len(SNIPPETS)]
        body = {"prompt": prompt, "max_tokens": 24, "temperature": 0.2, "stream": kind != "normal"}
        turn += 1
        try:
            async with client.stream("POST", url, json=body) as response:
                status = response.status_code
                if status == 200 and kind == "normal":
                    await response.aread()
                    assert response.json()["choices"][0]["finish_reason"]
                elif status == 200:
                    async for line in response.aiter_lines():
                        if kind == "cancelled" and line.startswith("data: "):
                            break
                        if line == "data: [DONE]":
                            break
                else:
                    await response.aread()
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            outcomes[f"{kind} {status}"] += 1
        except httpx.TransportError as error:
            outcomes[f"connection error {type(error).__name__}"] += 1


def test_soak_16_clients_mixing_streamed_cancelled_and_normal_requests(
    soak_server: Server,
) -> None:
    async def soak() -> tuple[Counter[str], float, float]:
        outcomes: Counter[str] = Counter()
        url = f"{soak_server.url}/v1/completions"
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=120) as client:
            until = started + SOAK_SECONDS
            clients = [
                asyncio.create_task(_soak_client(client, url, number, until, outcomes))
                for number in range(SOAK_CLIENTS)
            ]
            await asyncio.sleep(min(15.0, SOAK_SECONDS / 4))
            warm_rss, _ = soak_server.rss_mib()  # after the first allocations settle
            await asyncio.gather(*clients)
        end_rss, _ = soak_server.rss_mib()
        return outcomes, warm_rss, end_rss

    start_rss, _ = soak_server.rss_mib()
    outcomes, warm_rss, end_rss = asyncio.run(soak())
    _, peak_rss = soak_server.rss_mib()
    summary = {
        "seconds": SOAK_SECONDS,
        "clients": SOAK_CLIENTS,
        "requests": sum(outcomes.values()),
        "outcomes": dict(sorted(outcomes.items())),
        "rss_mib": {"start": start_rss, "warm": warm_rss, "end": end_rss, "peak": peak_rss},
    }
    log.info("soak summary: %s", json.dumps(summary))
    statuses = {key.rsplit(" ", 1)[-1] for key in outcomes}
    assert not any(key.startswith("connection error") for key in outcomes), outcomes
    assert statuses <= {"200", "429", "503"}, outcomes
    assert sum(count for key, count in outcomes.items() if key.endswith(" 200")) >= SOAK_CLIENTS
    assert end_rss - warm_rss < 64, f"memory grew from {warm_rss:.0f} to {end_rss:.0f} MiB"
    health = _wait_all_slots_free(soak_server)
    assert health["free_slots"] == health["total_slots"]


# --- graceful shutdown --------------------------------------------------------------------


def test_sigterm_cancels_streams_after_the_grace_period_and_exits_0(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    log_path = tmp_path_factory.mktemp("shutdown") / "server.log"
    server = start_fauxpilot("smollm2-135m", 2, log_path, ("--shutdown-grace-seconds", "2"))
    body = {"prompt": "def long_function():\n", "max_tokens": 2000, "stream": True}
    try:
        with httpx.stream("POST", f"{server.url}/v1/completions", json=body, timeout=60) as stream:
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("data: "))
            signalled = time.monotonic()
            server.process.terminate()
            time.sleep(0.5)  # let the signal handler run
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{server.url}/health", timeout=5)  # no longer accepting
            with contextlib.suppress(httpx.TransportError):
                for _ in lines:  # the stream is cut once the grace period is over
                    pass
        status = server.process.wait(timeout=30)
        waited = time.monotonic() - signalled
    finally:
        server.stop()
    log.info("SIGTERM: exit status %d after %.1f s", status, waited)
    assert status == 0, server.log_tail()
    assert waited < 2 + 10
    assert "stopped by signal 15" in server.log_tail()
