"""Refusing requests whose Host names another site: the defence against DNS rebinding.

A web page whose name is rebound to 127.0.0.1 becomes same-origin with a server on loopback
and could use it, keys off, with its answers readable. Its requests still carry the page's
own name in `Host`, which is how they are told apart.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from fauxpilot.api.errors import error_body, send_error

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    """Whether an address stays on this machine (also the exposure check's, server.py)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header, without its port: `[::1]:5000` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header


def allowed_hosts(listen_host: str, extra: list[str]) -> tuple[str, ...] | None:
    """The names clients may use, or None for no check ("*", or listening on every address
    with no names given: the server cannot know its names then)."""
    if "*" in extra:
        return None
    names = {name.lower() for name in extra}
    if listen_host in WILDCARD_HOSTS:
        return tuple(sorted(names)) if names else None
    return tuple(sorted(names | {listen_host.lower()}))


class HostCheck:
    """Answers 403 in OpenAI's error shape to a Host that is not loopback or allowed."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...] | None) -> None:
        self.app = app
        self.allowed = None if allowed is None else frozenset(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.allowed is None:
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
        name = host_name(header)
        if name in self.allowed or name == "localhost" or is_loopback(name):
            await self.app(scope, receive, send)
            return
        message = (
            f"Host {header!r} is not this server's name: refused (DNS rebinding protection). "
            "Start the server with --allowed-host NAME for the names clients use."
        )
        await send_error(
            send, 403, error_body(message, "invalid_request_error", None, "invalid_host")
        )
