"""`GET /v1/completions/{id}/prompt`: the prompt the server built for one of the caller's
recent completions (the playground's "why" panel).

Off unless the server is started with `--explain-prompts`: the prompt is the client's code.
With keys on, a key reads back only the prompts of its own requests.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fauxpilot.api.auth import scope_key_label
from fauxpilot.api.errors import APIError
from fauxpilot.api.recent import KEPT_PER_KEY
from fauxpilot.api.state import app_state

router = APIRouter()


@router.get("/v1/completions/{completion_id}/prompt")
async def completion_prompt(completion_id: str, request: Request) -> JSONResponse:
    explanations = app_state(request).explanations
    if explanations is None:
        raise APIError(
            403,
            "This server does not show the prompts it builds; start it with "
            "--explain-prompts to allow it.",
            code="prompt_explanations_off",
        )
    found = explanations.find(scope_key_label(request.scope), completion_id)
    if found is None:
        raise APIError(
            404,
            f"No recent completion {completion_id!r} of yours is known (the server keeps the "
            f"prompts of each key's last {KEPT_PER_KEY} completions).",
            param="completion_id",
            code="completion_not_found",
        )
    return JSONResponse({"id": completion_id, "object": "completion.prompt", **found})
