"""Routes that editor plugins need beyond the OpenAI API."""

from __future__ import annotations

import time

from fastapi import APIRouter

router = APIRouter()

TOKEN_LIFETIME_SECONDS = 3600
TOKEN_REFRESH_SECONDS = 900


@router.get("/copilot_internal/v2/token")
async def copilot_token() -> dict[str, object]:
    """The Copilot agents trade a GitHub token for a completion token here before completing."""
    return {
        "token": "1",
        "expires_at": int(time.time()) + TOKEN_LIFETIME_SECONDS,
        "refresh_in": TOKEN_REFRESH_SECONDS,
    }
