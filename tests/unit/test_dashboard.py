"""The dashboard's data, the suggestion events and the prompt explanations, against a FakeEngine:
figures read from the same registry as /metrics, keys never shown, errors in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from fauxpilot.api import create_app
from fauxpilot.api.config import ApiConfig
from fauxpilot.api.history import MetricsHistory, Snapshot, interval, quantile
from fauxpilot.api.metrics import GENERATION_ROUTES, LATENCY_BUCKETS, Metrics
from fauxpilot.engine.base import EngineNotReady, ModelInfo

from .fakes import FakeEngine

KEY_A = "sk-dashboard-key-aaaaaaaaaaaa"
KEY_B = "sk-dashboard-key-bbbbbbbbbbbb"


def _keyed_app(engine: FakeEngine, explain: bool = False) -> TestClient:
    config = ApiConfig(api_keys=(KEY_A, KEY_B), explain_prompts=explain)
    return TestClient(create_app(engine, "fake", config=config))


@pytest.fixture
def keyed(engine: FakeEngine) -> Iterator[TestClient]:
    with _keyed_app(engine) as client:
        yield client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _complete(client: TestClient, key: str | None = None, **fields: object) -> dict:
    body = {"prompt": "def f(x):\n    ", "suffix": "\n", "max_tokens": 8, **fields}
    response = client.post("/v1/completions", json=body, headers=_auth(key) if key else {})
    assert response.status_code == 200, response.text
    return response.json()


def _metric_samples(client: TestClient, headers: dict[str, str] | None = None) -> list:
    text = client.get("/metrics", headers=headers or {}).text
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def test_the_dashboard_shows_what_metrics_counts(client: TestClient, engine: FakeEngine) -> None:
    for _ in range(3):
        _complete(client)
    client.post("/v1/completions", json={"prompt": "x", "max_tokens": -1})  # a 400
    data = client.get("/v1/dashboard").json()
    samples = _metric_samples(client)
    requests = sum(
        sample.value
        for sample in samples
        if sample.name == "fauxpilot_http_requests_total"
        and sample.labels["route"] in GENERATION_ROUTES
    )
    tokens = next(s.value for s in samples if s.name == "fauxpilot_completion_tokens_total")
    assert data["totals"]["requests"] == requests == 4
    assert data["totals"]["completion_tokens"] == tokens > 0
    assert data["engine"]["status"] == "ok"
    assert (
        data["engine"]["slots_busy"] + data["engine"]["slots_free"]
        == (data["engine"]["slots_total"])
    )
    assert data["server"]["model"] == "fake-model"
    assert data["last_hour"]["requests"] == 4
    assert data["series"] and data["series"][-1]["requests"] == 4
    assert data["last_hour"]["latency_p50"] is not None


class LoadingEngine(FakeEngine):
    """An engine still loading its model: it has no model information yet."""

    @property
    def model(self) -> ModelInfo:
        raise EngineNotReady("model fake is loading")


def test_the_dashboard_shows_a_loading_engine_instead_of_failing() -> None:
    with TestClient(create_app(LoadingEngine(ready=False), "fake")) as client:
        response = client.get("/v1/dashboard")
    assert response.status_code == 200
    data = response.json()
    assert data["engine"]["status"] == "loading"
    assert data["server"]["model"] == "fake" and "model_file" not in data["server"]


def test_usage_per_key_is_shown_by_label_and_never_by_key(keyed: TestClient) -> None:
    _complete(keyed, KEY_A)
    _complete(keyed, KEY_A)
    _complete(keyed, KEY_B)
    assert keyed.get("/v1/dashboard").status_code == 401
    response = keyed.get("/v1/dashboard", headers=_auth(KEY_B))
    rows = {row["key"]: row for row in response.json()["keys"]}
    assert sorted(row["requests"] for row in rows.values()) == [1, 2]
    assert all(label.startswith("key-") for label in rows)
    assert all(row["completion_tokens"] > 0 and row["prompt_tokens"] > 0 for row in rows.values())
    metrics_text = keyed.get("/metrics", headers=_auth(KEY_A)).text
    for secret in (KEY_A, KEY_B, KEY_A[-12:], KEY_B[-12:]):
        assert secret not in response.text
        assert secret not in metrics_text


def test_events_give_the_acceptance_rate_by_language_and_key(client: TestClient) -> None:
    python_ids = [_complete(client, extra={"language": "python"})["id"] for _ in range(2)]
    go_id = _complete(client, language="go")["id"]
    for completion_id in [*python_ids, go_id]:
        event = {"type": "view", "completion_id": completion_id, "choice_index": 0}
        assert client.post("/v1/events", json=event).status_code == 200
    client.post("/v1/events", json={"type": "select", "completion_id": python_ids[0]})
    client.post("/v1/events", json={"type": "dismiss", "completion_id": go_id, "elapsed": 12})
    languages = {row["language"]: row for row in client.get("/v1/dashboard").json()["languages"]}
    assert languages["python"]["acceptance"] == 0.5
    assert languages["go"]["acceptance"] == 0.0
    assert languages["go"]["dismiss"] == 1
    ratios = {
        (sample.name, tuple(sample.labels.values())): sample.value
        for sample in _metric_samples(client)
        if sample.name.startswith("fauxpilot_acceptance_ratio")
    }
    assert ratios[("fauxpilot_acceptance_ratio_by_language", ("python",))] == 0.5
    assert ratios[("fauxpilot_acceptance_ratio_by_key", ("anonymous",))] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "accept", "completion_id": "cmpl-1"},
        {"type": "view"},
        {"type": "view", "completion_id": ""},
        {"type": "view", "completion_id": "cmpl-1", "choice_index": -1},
    ],
)
def test_a_malformed_event_is_a_400_in_openai_shape(client: TestClient, event: dict) -> None:
    response = client.post("/v1/events", json=event)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert client.get("/health").status_code == 200


def test_an_event_for_an_unknown_completion_counts_as_unknown_language(client: TestClient) -> None:
    client.post("/v1/events", json={"type": "view", "completion_id": "cmpl-from-yesterday"})
    languages = client.get("/v1/dashboard").json()["languages"]
    assert languages == [
        {"language": "unknown", "view": 1, "select": 0, "dismiss": 0, "acceptance": 0.0}
    ]


def test_prompts_are_not_shown_unless_the_server_allows_it(client: TestClient) -> None:
    completion_id = _complete(client)["id"]
    response = client.get(f"/v1/completions/{completion_id}/prompt")
    assert response.status_code == 403
    assert "--explain-prompts" in response.json()["error"]["message"]


def test_a_key_reads_back_its_own_prompt_and_no_other(engine: FakeEngine) -> None:
    with _keyed_app(engine, explain=True) as client:
        completion_id = _complete(
            client, KEY_A, prompt="def add(a, b):\n    ", suffix="\n\nx = 1\n"
        )["id"]
        own = client.get(f"/v1/completions/{completion_id}/prompt", headers=_auth(KEY_A))
        other = client.get(f"/v1/completions/{completion_id}/prompt", headers=_auth(KEY_B))
    assert own.status_code == 200
    prompt = own.json()["prompts"][0]
    assert prompt["layout"] == "fill-in-the-middle"
    assert prompt["text"].startswith("<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>")
    assert prompt["text"].endswith("x = 1\n<|fim_middle|>")
    assert own.json()["sent"]["suffix_chars"] == len("\n\nx = 1\n")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "completion_not_found"


def test_typeahead_hits_are_counted(client: TestClient, engine: FakeEngine) -> None:
    engine.queue_output("return x + 1\n")
    body = {"prompt": "def f(x):\n    ", "suffix": "\n", "max_tokens": 16, "temperature": 0}
    client.post("/v1/completions", json=body)
    typed = {**body, "prompt": body["prompt"] + "retu"}
    assert client.post("/v1/completions", json=typed).json()["choices"][0]["text"] == "rn x + 1\n"
    assert client.get("/v1/dashboard").json()["totals"]["typeahead_hits"] == 1
    assert "fauxpilot_typeahead_hits_total 1.0" in client.get("/metrics").text


def test_every_generation_route_is_counted_as_one() -> None:
    paths = create_app(FakeEngine(), "fake").openapi()["paths"]
    posts = {path for path, operations in paths.items() if "post" in operations}
    assert posts - {"/v1/events"} == GENERATION_ROUTES


def _buckets(counts: dict[float, float]) -> tuple[tuple[float, float], ...]:
    bounds = (*LATENCY_BUCKETS, float("inf"))
    running, result = 0.0, []
    for bound in bounds:
        running += counts.get(bound, 0.0)
        result.append((bound, running))
    return tuple(result)


def test_quantiles_interpolate_within_buckets_like_prometheus() -> None:
    later = _buckets({0.5: 10, 1.0: 10})  # 10 in (0.25, 0.5], 10 in (0.5, 1]
    assert quantile(0.5, later) == pytest.approx(0.5)
    assert quantile(0.75, later) == pytest.approx(0.75)
    assert quantile(0.5, later, earlier=_buckets({0.5: 10})) == pytest.approx(0.75)
    assert quantile(0.5, later, earlier=later) is None
    assert quantile(0.9, _buckets({float("inf"): 5})) == LATENCY_BUCKETS[-1]


def test_the_history_keeps_an_hour_of_minutes() -> None:
    now = [1_000_000.0]
    metrics = Metrics()
    history = MetricsHistory(metrics.registry, clock=lambda: now[0])
    for minute in range(70):
        metrics.requests.labels("/v1/completions", "POST", "200").inc(minute % 3)
        metrics.requests.labels("/v1/completions", "POST", "429").inc(1)
        history.record()
        now[0] += 60
    current = history.now()
    series = history.series(current)
    assert len(series) == 61  # an hour of minutes, and the one still running
    assert series[-1]["requests"] == 0 and series[-2]["requests"] == 69 % 3 + 1
    assert history.over_the_hour(current)["refused_429"] == 60
    assert series[-2]["requests_per_minute"] == pytest.approx(series[-2]["requests"])


def test_an_interval_without_requests_has_no_percentiles() -> None:
    quiet = interval(Snapshot(0.0, 5.0), Snapshot(60.0, 5.0))
    assert quiet["requests"] == 0 and quiet["latency_p90"] is None and quiet["ttft_p50"] is None
