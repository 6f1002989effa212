"""One place that maps exceptions to OpenAI's error JSON and the right status code."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from fauxpilot.completion.fim import PromptTooLongError
from fauxpilot.completion.types import InvalidRequestError
from fauxpilot.engine.base import EngineCrashed, EngineNotReady, EngineOverloaded
from fauxpilot.engine.remote_protocol import UpstreamError

log = logging.getLogger(__name__)


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers: dict[str, str] | None = None

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


async def send_error(
    send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with an error from ASGI middleware, before any route has run."""
    payload = json.dumps(body).encode()
    all_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(payload)),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": payload})


def api_error_for(error: Exception) -> APIError:
    """The APIError a domain or engine exception means; unknown ones are server errors."""
    if isinstance(error, APIError):
        return error
    if isinstance(error, PromptTooLongError):
        return APIError(400, str(error), param="max_tokens", code="context_length_exceeded")
    if isinstance(error, InvalidRequestError):
        return APIError(400, str(error), param=error.param, code=error.code)
    if isinstance(error, EngineNotReady):
        return APIError(503, str(error), "server_error", code="model_not_ready")
    if isinstance(error, EngineOverloaded):
        return APIError(503, str(error), "server_error", code="overloaded")
    if isinstance(error, EngineCrashed):
        return APIError(503, str(error), "server_error", code="engine_restarting")
    if isinstance(error, UpstreamError):
        code = {503: "upstream_unavailable", 504: "upstream_timeout"}.get(error.status)
        return APIError(error.status, str(error), "server_error", code=code or "upstream_error")
    log.exception("internal error", exc_info=error)
    return APIError(500, "The server had an error while processing your request.", "server_error")


def _validation_message(error: RequestValidationError) -> tuple[str, str | None]:
    first = error.errors()[0] if error.errors() else {}
    if first.get("type") == "json_invalid":
        return "We could not parse the JSON body of your request: it is not valid JSON.", None
    # The top-level field; deeper parts of pydantic's location name union members, not params.
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = location[0] if location else None
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "missing" or param is None:
        return f"Invalid request: {message}", param
    return f"Invalid value for '{param}': {message}", param


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, error: Exception) -> JSONResponse:
        api_error = api_error_for(error)
        headers = api_error.headers or ({"Retry-After": "1"} if api_error.status == 503 else None)
        return JSONResponse(api_error.body(), status_code=api_error.status, headers=headers)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        message, param = _validation_message(error)
        return JSONResponse(error_body(message, "invalid_request_error", param), 400)

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        code = "not_found" if error.status_code == 404 else None
        return JSONResponse(
            error_body(str(error.detail), "invalid_request_error", None, code),
            status_code=error.status_code,
            headers=error.headers,
        )

    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(PromptTooLongError, on_api_error)
    app.add_exception_handler(InvalidRequestError, on_api_error)
    app.add_exception_handler(EngineNotReady, on_api_error)
    app.add_exception_handler(EngineOverloaded, on_api_error)
    app.add_exception_handler(EngineCrashed, on_api_error)
    app.add_exception_handler(UpstreamError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_api_error)
