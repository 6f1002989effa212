"""What the HTTP layer enforces around the completion service: keys, limits, deadlines."""

from __future__ import annotations

from pydantic import ConfigDict

from fauxpilot.api.hosts import allowed_hosts

# Re-exported for api/limits.py; the default is the server settings' (written once there).
from fauxpilot.config.settings import DEFAULT_MAX_BODY_BYTES as DEFAULT_MAX_BODY_BYTES
from fauxpilot.config.settings import ApiLimits, ServerSettings


class ApiConfig(ApiLimits):
    """The limits (body size, requests in flight in total and per key, the deadline, caches per
    key) with the server group's defaults and bounds, plus what the server group resolves.

    `ApiConfig()` is an open API with the default limits (what the tests use)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Accepted API keys; none means the API is open (the CLI allows that on loopback only).
    api_keys: tuple[str, ...] = ()
    # Names a request's Host may give besides loopback ones; None: no check (hosts.py).
    allowed_hosts: tuple[str, ...] | None = None

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> ApiConfig:
        """The server group's limits as set, its keys (the key file read) and allowed hosts."""
        limits = settings.model_dump(include=set(ApiLimits.model_fields))
        return cls.model_validate(
            {
                **limits,
                "api_keys": settings.api_keys(),
                "allowed_hosts": allowed_hosts(settings.host, settings.allowed_host),
            }
        )
