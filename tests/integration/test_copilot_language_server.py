"""GitHub's current Copilot language server, unmodified, completing through FauxPilot."""

from __future__ import annotations

import json
import platform
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ..copilot_language_server import (
    COPILOT_TOKEN,
    GITHUB_HOST,
    RELEASE,
    GitHubStandIn,
    LanguageServer,
    copilot_language_server,
)
from .conftest import Server

pytestmark = pytest.mark.integration

DOCUMENT = "file:///work/fib.py"
TEXT = "def fib(n):\n    \n\nprint(fib(10))\n"


@pytest.fixture
def language_server(
    tiny_server: Server, tmp_path: Path
) -> Iterator[tuple[LanguageServer, GitHubStandIn]]:
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("the test fetches the language server's linux-x64 build")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed for the GitHub stand-in's certificate")
    binary = copilot_language_server()
    if binary is None:
        pytest.skip(f"npm's registry is out of reach: no copilot-language-server {RELEASE}")
    address = urlsplit(tiny_server.url)
    github = GitHubStandIn(tmp_path, (address.hostname or "127.0.0.1", address.port or 80))
    settings = {
        "http": {"proxy": github.proxy_url},
        "telemetry": {"telemetryLevel": "off"},
        "github-enterprise": {"uri": f"https://{GITHUB_HOST}"},
        # What the README tells copilot.vim users to put in g:copilot_settings.
        "github": {"copilot": {"advanced": {"debug.overrideProxyUrl": github.completions_url,
                                            "debug.overrideEngine": "codegen"}}},
    }  # fmt: skip
    server = LanguageServer(binary, tmp_path / "home", github.cert, settings)
    yield server, github
    server.close()
    github.close()


def _start_and_sign_in(server: LanguageServer) -> dict[str, Any]:
    server.request("initialize", {
        "processId": None,
        "workspaceFolders": [{"uri": "file:///work", "name": "work"}],
        "capabilities": {"workspace": {"workspaceFolders": True, "configuration": True}},
        "initializationOptions": {"editorInfo": {"name": "Vim", "version": "9.1"},
                                  "editorPluginInfo": {"name": "copilot.vim", "version": "1.50.0"}},
    })  # fmt: skip
    server.notify("initialized", {})
    server.notify("workspace/didChangeConfiguration", {"settings": server.settings})
    return server.request("signInWithGithubToken", {"githubToken": "gho_test", "user": "someone"})


def _streamed_text(response: str) -> str:
    chunks = [line[6:] for line in response.splitlines() if line.startswith("data: {")]
    return "".join(json.loads(chunk)["choices"][0]["text"] for chunk in chunks)


def test_inline_completion_comes_from_fauxpilot(
    language_server: tuple[LanguageServer, GitHubStandIn],
) -> None:
    server, github = language_server
    assert _start_and_sign_in(server)["result"]["status"] == "OK"
    server.notify("textDocument/didOpen", {"textDocument": {
        "uri": DOCUMENT, "languageId": "python", "version": 1, "text": TEXT}})  # fmt: skip
    answer = server.request("textDocument/inlineCompletion", {
        "textDocument": {"uri": DOCUMENT, "version": 1},
        "position": {"line": 1, "character": 4},
        "context": {"triggerKind": 2},
        "formattingOptions": {"tabSize": 4, "insertSpaces": True},
    }, timeout=180)  # fmt: skip

    assert "/copilot_internal/v2/token" in github.github_paths  # signed in with "GitHub"
    completions = [e for e in github.exchanges if e["path"] == "/v1/engines/codegen/completions"]
    assert completions, f"nothing reached FauxPilot: {server.log_messages()[-8:]}"
    sent = completions[0]
    assert sent["headers"]["Authorization"] == f"Bearer {COPILOT_TOKEN}"
    assert sent["headers"]["OpenAI-Intent"] == "copilot-ghost"
    assert sent["body"]["stream"] is True
    assert sent["body"]["prompt"].endswith("def fib(n):\n")
    assert sent["body"]["suffix"].startswith("print(fib(10))")
    assert sent["body"]["extra"]["language"] == "python"
    assert sent["status"] == 200

    items = answer["result"]["items"]
    assert items, f"no suggestion: {server.log_messages()[-8:]}"
    streamed = _streamed_text(sent["response"])
    first_line = next(line.strip() for line in streamed.splitlines() if line.strip())
    assert first_line in items[0]["insertText"]  # FauxPilot's words, shown as the suggestion
    assert items[0]["range"]["start"]["line"] == 1
