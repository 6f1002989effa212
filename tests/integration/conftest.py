"""A real `fauxpilot serve` process on a free loopback port, with a real model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fauxpilot.bench.servers import RunningServer, start_fauxpilot

Server = RunningServer


@pytest.fixture(scope="session")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_fauxpilot("smollm2-135m", 2, tmp_path_factory.mktemp("tiny") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log_path = tmp_path_factory.mktemp("default") / "server.log"
    # Default settings: one-line requests with a suffix are ranked, the others FIM only.
    server = start_fauxpilot("qwen2.5-coder-0.5b", 2, log_path)
    yield server
    server.stop()
