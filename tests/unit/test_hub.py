"""`fauxpilot models pull ORG/REPO` through huggingface_hub, against a local fake of the hub's
HTTP API (no network here): token, endpoint, shared cache, offline mode."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import pytest

from tests.terminal import bar_lines, run_on_terminal

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GGUF_REPO = "team/coder-GGUF"
CHECKPOINT_REPO = "team/codegen-tiny"
REPOS: dict[str, dict[str, bytes]] = {
    GGUF_REPO: {
        "coder-q8_0.gguf": b"GGUF" + b"\x01" * 60,
        "coder-q4_k_m.gguf": b"GGUF" + b"\x02" * 60,
        "README.md": b"# a model\n",
    },
    CHECKPOINT_REPO: {
        "config.json": b'{"architectures": ["CodeGenForCausalLM"]}',
        "model.safetensors": b"weights",
        "tokenizer.json": b"{}",
        "README.md": b"# a checkpoint\n",
        "training/args.bin": b"not needed",
    },
}
BIG_REPO = "team/big-GGUF"
BIG_FILE = "big-q4_k_m.gguf"
# Larger than huggingface_hub's 10 MiB download chunk, so that a part of it reaches the disk.
BIG = b"GGUF" + bytes(range(256)) * (24 * 4096)  # 24 MiB and 4 bytes
REPOS[BIG_REPO] = {BIG_FILE: BIG}
TOKEN = "hf_test_token_0001"


class FakeHub(BaseHTTPRequestHandler):
    """The parts of the hub's API that huggingface_hub uses to list and download files."""

    requests: ClassVar[list[tuple[str, str, str | None]]] = []
    ranges: ClassVar[list[str]] = []  # the Range headers of file downloads
    cut_once: ClassVar[set[str]] = set()  # files whose first download breaks off halfway

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.requests.append((self.command, path, self.headers.get("authorization")))
        if self.headers.get("authorization") != f"Bearer {TOKEN}":
            self._send(401, b'{"error": "Invalid credentials"}', head)  # a private repository
            return
        for repo, files in REPOS.items():
            if path in (f"/api/models/{repo}/revision/main", f"/api/models/{repo}"):
                siblings = [{"rfilename": name} for name in files]
                self._json({"id": repo, "sha": COMMIT, "siblings": siblings}, head)
                return
            if path.startswith(f"/api/models/{repo}/tree/"):
                entries = [
                    {"type": "file", "path": name, "size": len(data), "oid": _oid(data)}
                    for name, data in files.items()
                ]
                self._json(entries, head)
                return
            for prefix in (f"/{repo}/resolve/main/", f"/{repo}/resolve/{COMMIT}/"):
                if path.startswith(prefix) and path[len(prefix) :] in files:
                    self._file(path[len(prefix) :], files[path[len(prefix) :]], head)
                    return
        self._send(404, b'{"error": "Repository not found"}', head)

    def _file(self, name: str, data: bytes, head: bool) -> None:
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{_oid(data)}"', "Accept-Ranges": "bytes"}
        if head:
            self._send(200, data, head, "application/octet-stream", headers)
            return
        asked = self.headers.get("range")
        self.ranges.append(asked or "")
        if name in self.cut_once:  # the connection drops halfway, as on a flaky network
            self.cut_once.discard(name)
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            for header, value in headers.items():
                self.send_header(header, value)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if asked and asked.startswith("bytes=") and asked.endswith("-"):
            start = int(asked[len("bytes=") : -1])
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            self._send(206, data[start:], head, "application/octet-stream", headers)
            return
        self._send(200, data, head, "application/octet-stream", headers)

    def _json(self, value: object, head: bool) -> None:
        self._send(200, json.dumps(value).encode(), head)

    def _send(
        self,
        status: int,
        body: bytes,
        head: bool,
        kind: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        if status in (401, 404):  # the hub's answer for a missing or private repository
            self.send_header("X-Error-Code", "RepoNotFound")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture
def hub_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeHub.requests.clear()
    FakeHub.ranges.clear()
    FakeHub.cut_once.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def pull_environment(tmp_path: Path, hub: str, **env: str) -> dict[str, str]:
    return {
        **os.environ,
        "FAUXPILOT_HOME": str(tmp_path / "home"),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_ENDPOINT": hub,
        "HF_TOKEN": TOKEN,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **env,
    }


def pull(tmp_path: Path, hub: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fauxpilot", "models", "pull", *args]
    return subprocess.run(
        command,
        env=pull_environment(tmp_path, hub, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pulled(tmp_path: Path, hub: str, repo: str, name: str) -> dict[str, str]:
    """Pull `repo`; its entry in the import registry, under the name it got."""
    done = pull(tmp_path, hub, repo)
    assert done.returncode == 0, done.stderr
    registry = json.loads((tmp_path / "home/models/imported.json").read_text())
    entry: dict[str, str] = registry[name]
    return entry


def test_a_gguf_comes_through_the_mirror_with_the_token_into_the_shared_cache(
    tmp_path: Path, hub_url: str
) -> None:
    model = pulled(tmp_path, hub_url, GGUF_REPO, "coder-q4_k_m")  # the Q4_K_M file of the two
    assert model["source"] == f"hf://{GGUF_REPO}/coder-q4_k_m.gguf"
    linked = tmp_path / "home/models" / model["filename"]
    assert linked.is_symlink() and (tmp_path / "hf") in linked.resolve().parents
    assert linked.read_bytes() == REPOS[GGUF_REPO]["coder-q4_k_m.gguf"]
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in FakeHub.requests)
    # Offline, the same pull is answered from the cache without a request.
    FakeHub.requests.clear()
    again = pull(tmp_path, hub_url, GGUF_REPO, "--file", "coder-q4_k_m.gguf",
                 "--as-name", "coder-offline", HF_HUB_OFFLINE="1")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert FakeHub.requests == []


def test_a_checkpoint_repository_brings_only_what_serving_needs(
    tmp_path: Path, hub_url: str
) -> None:
    model = pulled(tmp_path, hub_url, CHECKPOINT_REPO, "codegen-tiny")
    assert model["kind"] == "hf" and model["source"] == f"hf://{CHECKPOINT_REPO}"
    folder = tmp_path / "home/models" / model["filename"]
    assert (folder / "model.safetensors").read_bytes() == b"weights"
    assert sorted(path.name for path in folder.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer.json"
    ]  # fmt: skip
    fetched = {path.rsplit("/", 1)[-1] for verb, path, _ in FakeHub.requests if "resolve" in path}
    assert "args.bin" not in fetched and "README.md" not in fetched


def test_a_private_repository_without_a_token_and_a_missing_offline_file_say_what_to_do(
    tmp_path: Path, hub_url: str
) -> None:
    private = pull(tmp_path, hub_url, GGUF_REPO, HF_TOKEN="")
    assert private.returncode != 0
    assert "HF_TOKEN" in private.stderr, private.stderr
    missing = pull(tmp_path, hub_url, "team/nothing")
    assert missing.returncode != 0 and "no such repository" in missing.stderr
    FakeHub.requests.clear()
    offline = pull(tmp_path, hub_url, GGUF_REPO, HF_HUB_OFFLINE="1")
    assert offline.returncode != 0 and FakeHub.requests == []
    assert "models import" in offline.stderr, offline.stderr


def test_a_download_cut_halfway_resumes_where_it_stopped(tmp_path: Path, hub_url: str) -> None:
    FakeHub.cut_once.add(BIG_FILE)
    model = pulled(tmp_path, hub_url, BIG_REPO, "big-q4_k_m")
    linked = tmp_path / "home/models" / model["filename"]
    assert hashlib.sha256(linked.read_bytes()).digest() == hashlib.sha256(BIG).digest()
    # The second request asked only for what the first did not bring.
    assert len(FakeHub.ranges) == 2 and FakeHub.ranges[0] == "", FakeHub.ranges
    resumed_at = int(FakeHub.ranges[1].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= len(BIG) // 2


def test_a_pull_draws_its_download_bar_on_a_terminal_and_none_in_a_pipe(
    tmp_path: Path, hub_url: str
) -> None:
    command = [sys.executable, "-m", "fauxpilot", "models", "pull", BIG_REPO]
    status, shown = run_on_terminal(command, env=pull_environment(tmp_path / "tty", hub_url))
    assert status == 0, shown
    bars = bar_lines(shown, "B/s]")  # huggingface_hub's own bar: bytes, rate, time left
    assert bars and BIG_FILE in bars[-1] and "100%" in bars[-1], shown[-2000:]
    assert "25.2M/25.2M" in bars[-1]  # the file's size, in SI units
    piped = pull(tmp_path / "pipe", hub_url, BIG_REPO)
    assert piped.returncode == 0, piped.stderr
    assert "B/s]" not in piped.stderr and "100%" not in piped.stderr
