"""What the HTTP layer enforces around the completion service: keys, limits, deadlines."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ApiConfig:
    # Accepted API keys; none means the API is open (the CLI allows that on loopback only).
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Generation requests in flight (running or waiting) in total, and per API key.
    max_concurrent_requests: int = 64
    max_concurrent_per_key: int = 16
    # A generation request is cancelled after this many seconds (0: no deadline).
    request_timeout_seconds: float = 120.0
    # Names a request's Host may give besides loopback ones; None: no check (hosts.py).
    allowed_hosts: tuple[str, ...] | None = None
    # With keys on, each key reuses only its own KV prefix cache and typeahead.
    cache_per_key: bool = True
