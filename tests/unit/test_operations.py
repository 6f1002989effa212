"""API keys, admission limits, deadlines, metrics and logging, against a FakeEngine."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from fauxpilot.api import create_app
from fauxpilot.api.admission import Admission
from fauxpilot.api.config import ApiConfig
from fauxpilot.cli import build_parser
from fauxpilot.cli.args import settings_from
from fauxpilot.completion.types import CompletionOptions
from fauxpilot.config.settings import ConfigError
from fauxpilot.logs import JsonFormatter, RequestIdFilter, request_id_var
from fauxpilot.server import InsecureExposureError, check_exposure

from .fakes import FakeEngine

KEY = "sk-test-0123456789"
PROMPT = {"prompt": "def f():\n", "max_tokens": 4, "temperature": 0}


@pytest.fixture
def keyed(engine: FakeEngine) -> Iterator[TestClient]:
    app = create_app(engine, "fake", config=ApiConfig(api_keys=(KEY, "another-key-42")))
    with TestClient(app) as test_client:
        yield test_client


def test_without_a_key_the_api_answers_401_in_openai_shape(keyed: TestClient) -> None:
    response = keyed.post("/v1/completions", json=PROMPT)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    assert "Bearer" in error["message"]


def test_a_wrong_key_is_refused(keyed: TestClient) -> None:
    response = keyed.post("/v1/completions", json=PROMPT, headers={"api-key": "wrong-key-123"})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Incorrect API key provided."


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}"},
        {"Authorization": "bearer another-key-42"},
        {"Authorization": f"token {KEY}"},
        {"api-key": KEY},
    ],
)
def test_every_accepted_header_form_lets_the_request_in(
    keyed: TestClient, headers: dict[str, str]
) -> None:
    response = keyed.post("/v1/completions", json=PROMPT, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["text"]


def test_health_is_open_and_metrics_need_the_key(keyed: TestClient) -> None:
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/metrics").status_code == 401
    assert keyed.get("/metrics", headers={"api-key": KEY}).status_code == 200


def test_copilot_token_exchange_hands_back_the_presented_key(keyed: TestClient) -> None:
    response = keyed.get("/copilot_internal/v2/token", headers={"Authorization": f"token {KEY}"})
    assert response.status_code == 200
    assert response.json()["token"] == KEY


def _blocking_app(release: asyncio.Event) -> object:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    return app


async def _post(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("http://test/v1/completions", headers={"api-key": key})


def test_admission_answers_429_per_key_and_503_in_total_with_retry_after() -> None:
    async def scenario() -> list[int]:
        release = asyncio.Event()
        refused: list[str] = []
        admission = Admission(
            _blocking_app(release),  # type: ignore[arg-type]
            max_total=3,
            max_per_key=2,
            timeout_seconds=0,
            on_refused=refused.append,
        )
        keyed = _KeyFromHeader(admission)
        transport = httpx.ASGITransport(app=keyed)
        async with httpx.AsyncClient(transport=transport) as client:
            held = [asyncio.create_task(_post(client, key)) for key in ("a", "a", "b")]
            while admission.total_in_flight < 3:
                await asyncio.sleep(0.01)
            same_key = await _post(client, "a")
            other_key = await _post(client, "c")
            assert same_key.headers["retry-after"] == "1"
            assert same_key.json()["error"]["code"] == "rate_limit_exceeded"
            assert other_key.json()["error"]["code"] == "overloaded"
            release.set()
            finished = await asyncio.gather(*held)
        assert refused == ["per_key_limit", "total_limit"]
        assert admission.total_in_flight == 0
        return [same_key.status_code, other_key.status_code] + [r.status_code for r in finished]

    assert asyncio.run(scenario()) == [429, 503, 200, 200, 200]


def test_per_key_limits_count_sequences_not_requests(engine: FakeEngine) -> None:
    engine.step_delay = 0.02
    engine.default_output = "z" * 150
    config = ApiConfig(api_keys=(KEY, "another-key-42"), max_concurrent_per_key=4)
    mine, other = {"api-key": KEY}, {"api-key": "another-key-42"}
    with TestClient(create_app(engine, "fake", config=config)) as client:
        wide = {**PROMPT, "max_tokens": 150, "n": 3}
        held = threading.Thread(
            target=lambda: client.post("/v1/completions", json=wide, headers=mine)
        )
        held.start()
        while len(engine.requests) < 3:  # three sequences of this key are running
            time.sleep(0.01)
        second = client.post("/v1/completions", json={**PROMPT, "n": 2}, headers=mine)
        fits = client.post("/v1/completions", json=PROMPT, headers=mine)
        others = client.post("/v1/completions", json={**PROMPT, "n": 4}, headers=other)
        still_running = held.is_alive()
        held.join()
        too_wide = client.post("/v1/completions", json={**PROMPT, "n": 5}, headers=mine)
        again = client.post("/v1/completions", json={**PROMPT, "n": 4}, headers=mine)
    assert still_running, "the wide request must still hold its sequences"
    assert second.status_code == 429
    assert second.headers["retry-after"] == "1"
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    assert fits.status_code == 200
    assert others.status_code == 200
    assert too_wide.status_code == 400
    assert too_wide.json()["error"]["param"] == "n"
    assert again.status_code == 200, "the held units must all be given back"


class _KeyFromHeader:
    """Stands in for ApiKeyAuth: the `api-key` header is the request's key."""

    def __init__(self, app: Admission) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["fauxpilot.key"] = dict(scope["headers"]).get(b"api-key", b"").decode()
        await self.app(scope, receive, send)


def test_a_slow_request_is_cancelled_at_its_deadline_with_504(engine: FakeEngine) -> None:
    engine.step_delay = 0.2
    engine.default_output = "x" * 50
    app = create_app(engine, "fake", config=ApiConfig(request_timeout_seconds=0.3))
    with TestClient(app) as client:
        response = client.post("/v1/completions", json={**PROMPT, "max_tokens": 50})
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "timeout"
        assert engine.aborted, "the engine sequence must be cancelled"
        engine.step_delay = 0.0
        assert client.post("/v1/completions", json=PROMPT).status_code == 200


def test_a_stream_past_its_deadline_ends_with_an_error_event(engine: FakeEngine) -> None:
    engine.step_delay = 0.1
    engine.default_output = "y" * 50
    app = create_app(engine, "fake", config=ApiConfig(request_timeout_seconds=0.5))
    with TestClient(app) as client:
        body = {**PROMPT, "max_tokens": 50, "stream": True}
        with client.stream("POST", "/v1/completions", json=body) as response:
            assert response.status_code == 200
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert json.loads(events[0])["choices"][0]["text"] == "y"
    assert json.loads(events[-1])["error"]["code"] == "timeout"
    assert len(events) < 50


def _metric(text: str, name: str) -> float:
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    ]
    assert values, f"{name} missing from /metrics"
    return sum(values)


def test_metrics_count_requests_tokens_and_time_to_first_token(client: TestClient) -> None:
    assert client.post("/v1/completions", json=PROMPT).status_code == 200
    assert client.post("/v1/completions", json={"prompt": 1.5}).status_code == 400
    text = client.get("/metrics").text
    ok = 'fauxpilot_http_requests_total{method="POST",route="/v1/completions",status="200"}'
    assert _metric(text, ok) == 1
    bad = 'fauxpilot_http_requests_total{method="POST",route="/v1/completions",status="400"}'
    assert _metric(text, bad) == 1
    assert _metric(text, "fauxpilot_completion_tokens_total") == 4
    assert _metric(text, "fauxpilot_prompt_tokens_total") == len(b"def f():\n")
    assert _metric(text, "fauxpilot_time_to_first_token_seconds_count") == 1
    assert _metric(text, "fauxpilot_free_slots") == 1
    assert _metric(text, "fauxpilot_kv_cache_hit_ratio") == 0


def test_unknown_paths_share_one_metric_label(client: TestClient) -> None:
    for number in range(5):
        client.get(f"/scan/{number}")
    text = client.get("/metrics").text
    assert _metric(text, 'fauxpilot_http_requests_total{method="GET",route="unmatched"') == 5
    assert "/scan/" not in text


def test_prompts_and_completions_stay_out_of_the_logs_by_default(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/v1/completions", json={**PROMPT, "prompt": "SECRET_MARKER = 1\n"})
    assert "SECRET_MARKER" not in caplog.text


def test_log_content_logs_prompt_and_completion(
    engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = create_app(engine, "fake", CompletionOptions(log_content=True))
    with TestClient(app) as client:
        client.post("/v1/completions", json={**PROMPT, "prompt": "SECRET_MARKER = 1\n"})
    assert "SECRET_MARKER" in caplog.text


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("fauxpilot.x", logging.INFO, "f", 1, "hello %s", ("you",), None)
    token = request_id_var.set("req-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42"
    assert line["message"] == "hello you" and line["level"] == "info"


def test_serving_the_network_without_keys_is_refused_unless_insecure() -> None:
    with pytest.raises(InsecureExposureError, match="--api-key"):
        check_exposure("0.0.0.0", ApiConfig().api_keys, insecure=False)
    check_exposure("0.0.0.0", ApiConfig().api_keys, insecure=True)
    check_exposure("0.0.0.0", ApiConfig(api_keys=(KEY,)).api_keys, insecure=False)
    for loopback in ("127.0.0.1", "::1", "localhost"):
        check_exposure(loopback, ApiConfig().api_keys, insecure=False)


def test_cli_flags_take_repeated_keys_a_key_file_and_a_bare_insecure(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# team keys\nfile-key-0001\n\n")
    args = build_parser().parse_args(
        ["serve", "--api-key", KEY, "--api-key", "second-key-2", "--insecure",
         "--api-key-file", str(key_file)]
    )  # fmt: skip
    settings = settings_from(args)
    assert settings.insecure is True
    assert settings.api_keys() == (KEY, "second-key-2", "file-key-0001")


def test_short_keys_and_missing_key_files_are_configuration_errors() -> None:
    args = build_parser().parse_args(["serve", "--api-key", "short"])
    with pytest.raises(ConfigError, match="at least"):
        settings_from(args).api_keys()
    args = build_parser().parse_args(["serve", "--api-key-file", "/nonexistent/keys"])
    with pytest.raises(ConfigError, match="cannot read"):
        settings_from(args).api_keys()


class FailingEngine(FakeEngine):
    def start(self) -> None:
        raise RuntimeError("the first test decode failed: status 1")


def test_a_model_that_fails_to_start_reports_failed_and_tells_the_server() -> None:
    failures: list[BaseException] = []
    app = create_app(FailingEngine(), "fake-model", on_start_failure=failures.append)
    with TestClient(app):
        deadline = time.monotonic() + 5
        while not failures and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [str(error) for error in failures] == ["the first test decode failed: status 1"]
