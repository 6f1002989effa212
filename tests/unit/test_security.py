"""Findings of the security review (RELIABILITY.md, "Security"): each failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from fauxpilot.evaluation import sandbox as sandbox_module
from fauxpilot.evaluation.sandbox import Sandbox, SandboxUnavailableError
from fauxpilot.evaluation.sandbox_limits import Limits
from fauxpilot.models.catalog import UnknownModelError
from fauxpilot.models.resolve import resolve_model
from fauxpilot.models.store import ModelStore
from fauxpilot.settings import Settings

from .fakes import FakeEngine


def metric_series(client: TestClient, name: str) -> list[str]:
    return [line for line in client.get("/metrics").text.splitlines() if line.startswith(name)]


def test_request_methods_cannot_grow_the_metrics(client: TestClient) -> None:
    before = len(metric_series(client, "fauxpilot_http_requests_total"))
    for number in range(40):
        client.request(f"FAKE{number}", "/v1/completions")
    series = metric_series(client, "fauxpilot_http_requests_total")
    assert len(series) <= before + 2  # one "other" series (and the /metrics GET itself)
    assert any('method="other"' in line for line in series)
    assert not any("FAKE" in line for line in series)


RAW_SURROGATE = '"a\\ud800b"'  # JSON for a string holding a lone surrogate


def post_raw(client: TestClient, path: str, body: str) -> tuple[int, dict[str, object]]:
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", '{"prompt": ' + RAW_SURROGATE + ', "max_tokens": 4}'),
        ("/v1/completions", '{"prompt": "x", "suffix": ' + RAW_SURROGATE + "}"),
        ("/v1/completions", '{"prompt": "x", "stop": [' + RAW_SURROGATE + "]}"),
        (
            "/v1/chat/completions",
            '{"messages": [{"role": "user", "content": ' + RAW_SURROGATE + "}]}",
        ),
        ("/completion", '{"prompt": ' + RAW_SURROGATE + ', "n_predict": 4}'),
        ("/infill", '{"input_prefix": ' + RAW_SURROGATE + ', "n_predict": 4}'),
    ],
)
def test_a_lone_surrogate_is_a_400_and_the_server_keeps_serving(
    client: TestClient, engine: FakeEngine, path: str, body: str
) -> None:
    status, payload = post_raw(client, path, body)
    assert status == 400, payload
    assert "surrogate" in json.dumps(payload)
    engine.queue_output("ok")
    assert client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2}).status_code == 200


def test_a_logit_bias_key_that_is_a_digit_but_not_a_number_is_a_400(client: TestClient) -> None:
    for key in ("²", "٣", "1e3", ""):
        response = client.post(
            "/v1/completions", json={"prompt": "x", "logit_bias": {key: 1.0}, "max_tokens": 2}
        )
        assert response.status_code == 400, (key, response.text)
        assert response.json()["error"]["param"] == "logit_bias"


def test_a_cache_warming_request_whose_prompt_fills_the_context_is_not_a_500(
    client: TestClient, engine: FakeEngine
) -> None:
    prompt = "x = 1\n" * (engine.context_length // 2)
    for path, body in (
        ("/completion", {"prompt": prompt, "n_predict": 0}),
        ("/infill", {"input_prefix": prompt, "input_suffix": "y\n", "n_predict": 0}),
    ):
        response = client.post(path, json=body)
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:
            assert response.json()["error"]["type"] == "invalid_request_error"


def test_more_slots_than_the_batch_holds_is_refused_in_settings() -> None:
    with pytest.raises(ValidationError, match=r"--slots 64.*--batch-size 32"):
        Settings(slots=64, batch_size=32)
    assert Settings(slots=32, batch_size=32).slots == 32


def test_a_file_named_like_a_catalog_model_does_not_shadow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qwen2.5-coder-0.5b").write_bytes(b"GGUF" + b"\0" * 64)
    store = ModelStore(tmp_path / "home")
    with pytest.raises(Exception, match="not installed") as caught:
        resolve_model("qwen2.5-coder-0.5b", store, pull_missing=False)
    assert "hash" not in str(caught.value)
    (tmp_path / "mymodel").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(UnknownModelError, match=r"\./mymodel"):
        resolve_model("mymodel", store, pull_missing=False)


def test_evaluation_refuses_to_run_code_without_a_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module, "candidate_isolations", list)
    with pytest.raises(SandboxUnavailableError, match="--unsafe-no-sandbox"):
        Sandbox.detect(Limits(timeout=5))
    unsafe = Sandbox.detect(Limits(timeout=5), allow_unsafe=True)
    assert unsafe.isolation.description.startswith("none")


FORK_BOMB = """
import os, time
forked = 0
try:
    for _ in range(400):
        if os.fork() == 0:
            time.sleep(20)
            os._exit(0)
        forked += 1
except OSError:
    pass
raise SystemExit(f"forked {forked}")
"""


def test_a_fork_bomb_is_stopped_by_the_process_limit_in_every_mode() -> None:
    """Every isolation mode that runs here, root's included (RLIMIT_NPROC does not bind
    root: a pids cgroup does)."""
    limits = Limits(timeout=15, processes=32)
    ran = 0
    for isolation in sandbox_module.candidate_isolations():
        result = sandbox_module.execute(FORK_BOMB, isolation, limits)
        if "forked " not in result.error:
            continue  # this mode cannot start Python here (the probe would skip it too)
        ran += 1
        forked = int(result.error.rsplit("forked ", 1)[1].split()[0])
        assert forked < limits.processes, (isolation.description, result.error)
    if ran == 0:
        pytest.skip("no isolation mode runs here")
