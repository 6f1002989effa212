"""`eval --wait`: the client waits for a server that is still starting, not one that is wrong."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from fauxpilot.evaluation import client as client_module
from fauxpilot.evaluation.client import CompletionClient, RequestFailed, RequestSettings


class LoadingHandler(BaseHTTPRequestHandler):
    """503 for the first health checks (the model loading), then 200."""

    loading_answers: ClassVar[list[int]] = [503, 503]

    def do_GET(self) -> None:
        status = self.loading_answers.pop(0) if self.loading_answers else 200
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_READY_POLL_SECONDS", 0.05)


def test_waits_through_refused_connections_and_loading(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), LoadingHandler, bind_and_activate=False)

    def listen_late() -> None:
        server.server_bind()
        server.server_activate()
        server.serve_forever()

    opened = threading.Timer(0.5, listen_late)
    opened.start()
    caplog.set_level("INFO")
    try:
        with CompletionClient(f"http://127.0.0.1:{port}", RequestSettings()) as client:
            client.wait_until_ready(30)
    finally:
        server.shutdown()
        opened.join()
        server.server_close()
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("waiting for the server to listen") for m in messages)
    assert "waiting for the server to load its model" in messages
    assert LoadingHandler.loading_answers == []


def test_a_server_that_never_listens_fails_after_the_wait() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with CompletionClient(url, RequestSettings()) as client, pytest.raises(RequestFailed) as error:
        client.wait_until_ready(0.3)
    assert "was not ready in 0.3 s" in str(error.value)


def test_other_transport_errors_fail_at_once() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    http = httpx.Client(transport=httpx.MockTransport(broken))
    client = CompletionClient("http://fake", RequestSettings(), http=http)
    with client, pytest.raises(RequestFailed, match="cannot reach the server"):
        client.wait_until_ready(60)
