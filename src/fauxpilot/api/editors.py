"""Routes that editor plugins need beyond the OpenAI API."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from fauxpilot.api.auth import KEY_SCOPE_ENTRY
from fauxpilot.api.body import OffLoopBodyRoute

router = APIRouter(route_class=OffLoopBodyRoute)

TOKEN_LIFETIME_SECONDS = 3600
TOKEN_REFRESH_SECONDS = 900


@router.get("/copilot_internal/v2/token")
async def copilot_token(request: Request) -> dict[str, object]:
    """The Copilot agents trade a GitHub token for a completion token here before completing.

    With API keys on, the agent must present a key here (`Authorization: token KEY`, set as
    its GitHub token); it gets the same key back and sends it as the Bearer token afterwards.
    """
    key = request.scope.get(KEY_SCOPE_ENTRY)
    return {
        "token": key if isinstance(key, str) else "1",
        "expires_at": int(time.time()) + TOKEN_LIFETIME_SECONDS,
        "refresh_in": TOKEN_REFRESH_SECONDS,
    }
