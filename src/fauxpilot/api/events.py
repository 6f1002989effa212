"""Suggestion events: which suggestions were shown, accepted or dismissed (acceptance rate).

Clients report them in Tabby's shape, `POST /v1/events` with `{"type": "view" | "select" |
"dismiss", "completion_id", "choice_index"}`; the playground does the same. The language of a
completion is remembered when it is served, so an event needs to carry only its id.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ConfigDict, Field

from fauxpilot.api.auth import scope_key_label
from fauxpilot.api.body import OffLoopBodyRoute
from fauxpilot.api.protocol import ClientRequest
from fauxpilot.api.state import app_state

router = APIRouter(route_class=OffLoopBodyRoute)


class CompletionEvent(ClientRequest):
    """Tabby's LogEventRequest; its optional `view_id`, `elapsed` are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["view", "select", "dismiss"]
    completion_id: str = Field(min_length=1, max_length=128)
    choice_index: int = Field(0, ge=0, le=1024)


@router.post("/v1/events")
async def log_event(event: CompletionEvent, request: Request) -> Response:
    state = app_state(request)
    language = state.recent.language_of(event.completion_id)
    state.metrics.count_event(event.type, language, scope_key_label(request.scope))
    return Response(status_code=200)
