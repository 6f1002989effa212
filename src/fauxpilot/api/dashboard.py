"""`GET /v1/dashboard`: the dashboard page's data, read from the registry `/metrics` serves.

Needs the key like every API route; shows key labels (a hash prefix), never a key.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client.samples import Sample

from fauxpilot import __version__
from fauxpilot.api.history import Snapshot, read_samples, take_snapshot
from fauxpilot.api.metrics import (
    COMPLETION_EVENTS,
    EventCounts,
    acceptance_ratio,
    event_counts,
    group_events,
)
from fauxpilot.api.state import AppState, app_state
from fauxpilot.engine.base import EngineNotReady, Health

router = APIRouter()


@router.get("/v1/dashboard")
async def dashboard(request: Request) -> JSONResponse:
    state = app_state(request)
    history = state.history
    samples = read_samples(state.metrics.registry)
    current = take_snapshot(samples, history.clock())
    events = event_counts(samples)
    body = {
        "object": "dashboard",
        "time": current.time,
        "server": _server_info(state),
        "engine": _engine_view(state.engine.health()),
        "totals": _totals(current, samples),
        "last_hour": history.over_the_hour(current),
        "series": history.series(current),
        "keys": _key_usage(samples, events),
        "languages": _acceptance_rows(events, "language"),
    }
    return JSONResponse(body)


def _server_info(state: AppState) -> dict[str, Any]:
    info: dict[str, Any] = {
        "version": __version__,
        "python": platform.python_version(),
        "llama_cpp_python": _installed_version("llama_cpp_python"),
        "model": state.model_name,
        "explain_prompts": state.explanations is not None,
    }
    try:
        model = state.engine.model
    except EngineNotReady:
        return info  # loading or restarting: the engine's status says so
    info.update(
        model_file=PurePath(model.path).name if model.path else "",
        family=model.family.name,
        context_length=model.context_length,
    )
    return info


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _engine_view(health: Health) -> dict[str, Any]:
    return {
        "status": health.status.value,
        "detail": health.detail,
        "restarts": health.restarts,
        "slots_total": health.total_slots,
        "slots_free": health.free_slots,
        "slots_busy": health.total_slots - health.free_slots,
        "active_sequences": health.active_requests,
        "queue_depth": health.waiting_requests,
    }


def _totals(current: Snapshot, samples: list[Sample]) -> dict[str, Any]:
    refused = {
        sample.labels["reason"]: sample.value
        for sample in samples
        if sample.name == "fauxpilot_requests_refused_total"
    }
    prompt = current.prompt_tokens
    return {
        "requests": current.requests,
        "prompt_tokens": prompt,
        "completion_tokens": current.completion_tokens,
        "cache_hit_ratio": current.cached_tokens / prompt if prompt else None,
        "typeahead_hits": current.typeahead_hits,
        "status_429": current.statuses.get("429", 0.0),
        "status_503": current.statuses.get("503", 0.0),
        "refused_by_reason": refused,
    }


def _acceptance_rows(events: EventCounts, by: str) -> list[dict[str, Any]]:
    rows = []
    for name, counts in sorted(group_events(events, by).items()):
        row: dict[str, Any] = {by: name}
        row.update({event: counts.get(event, 0.0) for event in COMPLETION_EVENTS})
        row["acceptance"] = acceptance_ratio(counts)
        rows.append(row)
    return rows


def _key_usage(samples: list[Sample], events: EventCounts) -> list[dict[str, Any]]:
    usage: dict[str, dict[str, Any]] = {}

    def row(key: str) -> dict[str, Any]:
        return usage.setdefault(
            key, {"key": key, "requests": 0.0, "prompt_tokens": 0.0, "completion_tokens": 0.0}
        )

    for sample in samples:
        if sample.name == "fauxpilot_key_requests_total":
            row(sample.labels["key"])["requests"] += sample.value
        elif sample.name == "fauxpilot_key_tokens_total":
            row(sample.labels["key"])[f"{sample.labels['kind']}_tokens"] += sample.value
    for acceptance in _acceptance_rows(events, "key"):
        row(acceptance["key"]).update(acceptance)
    return sorted(usage.values(), key=lambda entry: -entry["requests"])
