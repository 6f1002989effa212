"""Request bodies parsed and validated in a worker thread, not on the event loop.

FastAPI reads a route's JSON body with `json.loads` and validates it on the event loop; for
a body of a few MiB (a long prompt, a million token ids) that takes tenths of a second in
which no other client, `/health` included, is answered. `OffLoopBodyRoute` does both in a
worker thread first, for bodies above `OFF_LOOP_BYTES`, and hands FastAPI the validated
model, which it takes as it is. A body that fails is left to FastAPI, which answers its
usual 400 (the lists of the prompt give up at their first bad item, so that is quick too).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

# Below this, parsing on the loop costs less than a trip to a worker thread.
OFF_LOOP_BYTES = 64 * 1024


class OffLoopBodyRoute(APIRoute):
    """An APIRoute whose one pydantic-model body is parsed and validated off the loop."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        model = _body_model(self)
        if model is None:
            return handler

        async def parse_then_handle(request: Request) -> Response:
            body = await request.body()
            if len(body) >= OFF_LOOP_BYTES and _is_json(request):
                parsed = await asyncio.to_thread(_parsed, model, body)
                if parsed is not None:
                    request._json = parsed  # what Request.json() returns from now on
            return await handler(request)

        return parse_then_handle


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    field = route.body_field
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _parsed(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate(json.loads(body))
    except (ValueError, ValidationError, RecursionError):
        return None  # FastAPI parses it again on the loop and answers the error
