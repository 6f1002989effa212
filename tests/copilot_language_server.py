"""GitHub's own Copilot language server (the agent of copilot.vim, Neovim's copilot.lua,
Zed, Eclipse...) driven over LSP, for a test that it sends its completions to FauxPilot.

The native build is fetched once from npm by name (its SHA-512 pinned) into the user's
cache. The server signs in with GitHub before it completes anything; here a stand-in for a
GitHub Enterprise host answers that exchange over HTTPS (a self-signed certificate made with
openssl and trusted through NODE_EXTRA_CA_CERTS), reached through a forward proxy, so no DNS
name and no privileged port are needed. Everything else the server tries to reach
(telemetry, GitHub's CDN) fails, as it would on an air-gapped machine.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.fetched_tools import CACHE, download_checked

RELEASE = "1.539.0"
PACKAGE = "copilot-language-server-linux-x64"
TARBALL = f"https://registry.npmjs.org/@github/{PACKAGE}/-/{PACKAGE}-{RELEASE}.tgz"
INTEGRITY = (  # npm's dist.integrity of that release
    "sha512-G/0/8y4jXirXHzEXKc3twa9oB3MRdUJEb/ucoZPYwnIjMHBFZ"
    "ynzHggWvihHCi6tapRhvQoDlu+O1LloaLLNFg=="
)
GITHUB_HOST = "github.fauxpilot.test"
COPILOT_TOKEN = "tid=fauxpilot-test;exp=2600000000"


def copilot_language_server() -> Path | None:
    """The native binary, or None when npm's registry cannot be reached."""
    binary = CACHE / f"{PACKAGE}-{RELEASE}" / "copilot-language-server"
    if binary.is_file():
        return binary
    try:
        algorithm, _, expected = INTEGRITY.partition("-")
        archive = download_checked(
            TARBALL, CACHE / TARBALL.rsplit("/", 1)[1], algorithm, base64.b64decode(expected), 600
        )
    except OSError:
        return None
    partial = binary.parent.with_name(binary.parent.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with tarfile.open(archive) as package:
        package.extractall(partial, filter="data")
    (partial / "package").rename(binary.parent)
    partial.rmdir()
    archive.unlink()
    return binary


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for GITHUB_HOST and api.GITHUB_HOST, and its key."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = f"subjectAltName=DNS:{GITHUB_HOST},DNS:api.{GITHUB_HOST}"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
               "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={GITHUB_HOST}",
               "-addext", names]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return cert, key


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _FakeGitHub(_Quiet):
    """GitHub's API as far as the language server's sign-in needs it."""

    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path.startswith("/copilot_internal/v2/token"):
            answer: dict[str, Any] = {"token": COPILOT_TOKEN, "expires_at": 2600000000,
                                      "refresh_in": 1500, "chat_enabled": False}  # fmt: skip
        elif self.path.startswith("/copilot_internal/user"):
            answer = {"login": "someone", "copilot_plan": "enterprise"}
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("x-github-request-id", "fauxpilot-test")  # the client insists on it
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _ForwardProxy(_Quiet):
    """CONNECT to the stand-in for any GitHub name, or to loopback (the language server
    tunnels even its plain-HTTP requests to FauxPilot through the proxy); everything else is
    refused, as offline."""

    github_port: int

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        if host.endswith(GITHUB_HOST):
            target = ("127.0.0.1", self.github_port)
        elif host == "127.0.0.1":
            target = (host, int(port))
        else:
            self.send_error(502, "offline")
            return
        upstream = socket.create_connection(target, timeout=30)
        self.send_response(200, "Connection established")
        self.end_headers()
        _pipe(self.connection, upstream)


def _pipe(one: socket.socket, other: socket.socket) -> None:
    sockets = [one, other]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (other if source is one else one).sendall(data)
    finally:
        other.close()


class _Recorder(_Quiet):
    """Passes the completion requests on to FauxPilot and keeps what went by."""

    upstream: tuple[str, int]
    exchanges: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        connection = http.client.HTTPConnection(*self.upstream, timeout=300)
        connection.request("POST", self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        self.exchanges.append({"path": self.path, "headers": dict(self.headers),
                               "body": json.loads(body), "status": response.status,
                               "response": data.decode()})  # fmt: skip
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _serve(handler: type[http.server.BaseHTTPRequestHandler],
           context: ssl.SSLContext | None = None) -> http.server.ThreadingHTTPServer:  # fmt: skip
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class GitHubStandIn:
    """The fake GitHub API, the proxy that reaches it and the recorder in front of FauxPilot."""

    def __init__(self, folder: Path, fauxpilot: tuple[str, int]) -> None:
        self.cert, key = self_signed_certificate(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.github_paths: list[str] = []
        self.exchanges: list[dict[str, Any]] = []
        github = type("GitHub", (_FakeGitHub,), {"paths": self.github_paths})
        recorder = type("Recorder", (_Recorder,), {"upstream": fauxpilot,
                                                   "exchanges": self.exchanges})  # fmt: skip
        self._servers = [_serve(github, context)]
        proxy = type("Proxy", (_ForwardProxy,), {"github_port": self._port(0)})
        self._servers += [_serve(proxy), _serve(recorder)]
        self.proxy_url = f"http://127.0.0.1:{self._port(1)}"
        self.completions_url = f"http://127.0.0.1:{self._port(2)}"

    def _port(self, index: int) -> int:
        return int(self._servers[index].server_address[1])

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


class LanguageServer:
    """A JSON-RPC client over the language server's stdio."""

    def __init__(self, binary: Path, home: Path, ca_cert: Path, settings: dict[str, Any]) -> None:
        home.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
               "NODE_EXTRA_CA_CERTS": str(ca_cert)}  # fmt: skip
        self.settings = settings
        self.stderr = (home / "stderr.log").open("w")
        pipe = subprocess.PIPE
        self.process = subprocess.Popen(
            [str(binary), "--stdio"], stdin=pipe, stdout=pipe, stderr=self.stderr, env=env
        )
        self.notifications: list[dict[str, Any]] = []
        self._responses: dict[int, dict[str, Any]] = {}
        self._next_id = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read_messages, daemon=True).start()

    def request(self, method: str, params: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while ident not in self._responses:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise TimeoutError(f"{method}: no answer (log: {self.log_messages()[-5:]})")
            time.sleep(0.05)
        return self._responses.pop(ident)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def log_messages(self) -> list[str]:
        return [n["params"]["message"] for n in self.notifications
                if n.get("method") == "window/logMessage"]  # fmt: skip

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.stderr.close()

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode()
        assert self.process.stdin is not None
        with self._lock:
            self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
            self.process.stdin.flush()

    def _read_messages(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = 0
            while line := stream.readline().strip():
                key, _, value = line.decode().partition(":")
                if key.lower() == "content-length":
                    length = int(value)
            if not length:
                return
            message = json.loads(stream.read(length))
            if "method" in message and "id" in message:
                self._answer_server_request(message)
            elif "id" in message:
                self._responses[message["id"]] = message
            else:
                self.notifications.append(message)

    def _answer_server_request(self, message: dict[str, Any]) -> None:
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [self._section(item.get("section", "")) for item in message["params"]["items"]]
        self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def _section(self, name: str) -> Any:
        value: Any = self.settings
        for part in name.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value
