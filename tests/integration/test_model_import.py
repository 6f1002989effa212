"""`fauxpilot models import` of a real GGUF file, then `fauxpilot serve --model NAME`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest

from fauxpilot.bench.servers import start_fauxpilot
from fauxpilot.config.settings import Settings
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.store import ModelStore

pytestmark = pytest.mark.integration


def _fauxpilot(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fauxpilot", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_an_imported_gguf_is_listed_verified_and_served_by_name(tmp_path: Path) -> None:
    tiny = ModelStore(Settings().home).verify(find_entry("smollm2-135m"))
    home = tmp_path / "home"
    imported = _fauxpilot(
        "models", "import", str(tiny), "--name", "team-model", "--home", str(home)
    )
    assert imported.returncode == 0, imported.stderr
    assert "serve it with `fauxpilot serve --model team-model`" in imported.stdout
    listing = _fauxpilot("models", "list", "--home", str(home))
    assert "team-model" in listing.stdout and "verified" in listing.stdout
    verified = _fauxpilot("models", "verify", "team-model", "--home", str(home))
    assert verified.returncode == 0 and verified.stdout.startswith("ok team-model")

    server = start_fauxpilot("team-model", 2, tmp_path / "server.log", ("--home", str(home)))
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        assert [model.id for model in client.models.list()] == ["team-model"]
        answer = client.completions.create(
            model="team-model", prompt="def add(a, b):\n    return", max_tokens=6, temperature=0
        )
        assert answer.choices[0].text and answer.model == "team-model"
    finally:
        server.stop()
