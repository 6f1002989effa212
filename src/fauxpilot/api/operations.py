"""Routes for operators: health for load balancers, metrics for Prometheus."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fauxpilot.api.state import app_state

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    engine_health = app_state(request).engine.health()
    body: dict[str, object] = {
        "status": engine_health.status,
        "detail": engine_health.detail,
        "active_requests": engine_health.active_requests,
        "waiting_requests": engine_health.waiting_requests,
        "free_slots": engine_health.free_slots,
        "total_slots": engine_health.total_slots,
        "restarts": engine_health.restarts,
    }
    if engine_health.upstream is not None:
        body["upstream"] = dataclasses.asdict(engine_health.upstream)
    return JSONResponse(body, status_code=200 if engine_health.ready else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry = app_state(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
