"""The engine process: a native crash in it fails the requests it ran, never the server.

A real `fauxpilot serve` with the tiny model; its engine process is killed with SIGSEGV,
as a CPU fault or a llama.cpp assertion would end it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fauxpilot.bench.servers import start_fauxpilot
from fauxpilot.engine.process import CRASH_LIMIT

from .conftest import Server

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

STREAMS = 8
CLIENT_SECONDS = 60.0
LATER_SECONDS = 30.0


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    started = start_fauxpilot("smollm2-135m", 2, tmp_path / "server.log", ("--slots", "8"))
    yield started
    started.stop()


def engine_pid(server: Server) -> int:
    """The engine process: the server's child running fauxpilot.engine.process_worker."""
    for child in server.children():
        command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        if b"fauxpilot.engine.process_worker" in command:
            return child
    raise AssertionError(f"no engine process under {server.process.pid}")


async def _stream(client: httpx.AsyncClient, number: int, first: asyncio.Event) -> str:
    """ "complete" or "error": how one stream ended; it must end with [DONE] either way."""
    body = {"prompt": f"# task {number}\ndef solve", "max_tokens": 400, "temperature": 0,
            "stream": True}  # fmt: skip
    data: list[str] = []
    async with client.stream("POST", "/v1/completions", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                data.append(line[6:])
                first.set()
    assert data[-1] == "[DONE]", data[-3:]
    events = [json.loads(item) for item in data[:-1]]
    if "error" in events[-1]:
        assert events[-1]["error"]["code"] == "engine_restarting", events[-1]
        return "error"
    assert events[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    return "complete"


async def _whole(client: httpx.AsyncClient) -> str:
    body = {"prompt": "def long_function():\n", "max_tokens": 400, "temperature": 0}
    response = await client.post("/v1/completions", json=body)
    if response.status_code == 503:
        assert response.json()["error"]["code"] == "engine_restarting"
        return "error"
    assert response.status_code == 200
    return "complete"


async def _crash_under_load(server: Server) -> tuple[list[str], float]:
    """8 streams and 2 whole requests; SIGSEGV once every stream has sent a token."""
    async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT_SECONDS) as client:
        firsts = [asyncio.Event() for _ in range(STREAMS)]
        tasks = [asyncio.create_task(_stream(client, n, firsts[n])) for n in range(STREAMS)]
        tasks += [asyncio.create_task(_whole(client)) for _ in range(2)]
        await asyncio.wait_for(asyncio.gather(*(first.wait() for first in firsts)), 60)
        os.kill(engine_pid(server), signal.SIGSEGV)
        killed = time.monotonic()
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks), CLIENT_SECONDS)
    return list(outcomes), killed


def _wait_for_status(server: Server, status: str, seconds: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        health = httpx.get(f"{server.url}/health", timeout=5).json()
        if health["status"] == status:
            return dict(health)
        time.sleep(0.1)
    raise AssertionError(f"health never said {status}: {health}")


def _restarts(server: Server) -> float:
    metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
    line = next(x for x in metrics.splitlines() if x.startswith("fauxpilot_engine_restarts"))
    return float(line.split()[-1])


def test_a_crashed_engine_fails_its_requests_and_comes_back(server: Server) -> None:
    outcomes, killed = asyncio.run(_crash_under_load(server))
    assert server.process.poll() is None, server.log_tail()
    assert "error" in outcomes, "the crash failed no request in flight"
    health = _wait_for_status(server, "ok")
    recovered = time.monotonic() - killed
    assert "SIGSEGV" in health["detail"]
    assert _restarts(server) == 1
    log.info(
        "engine crash: %d of %d requests failed, %d completed; ok again %.1f s after the kill",
        outcomes.count("error"),
        len(outcomes),
        outcomes.count("complete"),
        recovered,
    )
    time.sleep(max(0.0, killed + LATER_SECONDS - time.monotonic()))
    body = {"prompt": "def add(a, b):\n", "max_tokens": 8, "temperature": 0}
    later = httpx.post(f"{server.url}/v1/completions", json=body, timeout=60)
    assert later.status_code == 200
    assert later.json()["choices"][0]["text"]


def test_a_crash_loop_stops_restarting_and_says_failed(server: Server) -> None:
    for _ in range(CRASH_LIMIT - 1):
        os.kill(engine_pid(server), signal.SIGSEGV)
        _wait_for_status(server, "restarting")
        _wait_for_status(server, "ok")
    os.kill(engine_pid(server), signal.SIGSEGV)
    health = _wait_for_status(server, "failed")
    assert "SIGSEGV" in health["detail"] and f"{CRASH_LIMIT} times" in health["detail"]
    refused = httpx.post(f"{server.url}/v1/completions", json={"prompt": "x"}, timeout=10)
    assert refused.status_code == 503
    assert server.process.poll() is None
