"""Which listening addresses stay on this machine."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fauxpilot.errors import UserError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class InsecureExposureError(UserError, ValueError):
    pass


def check_exposure(host: str, api_keys: Sequence[str], insecure: bool) -> None:
    """Refuse to serve private code to the network without keys, unless told to."""
    if api_keys or insecure or is_loopback(host):
        return
    raise InsecureExposureError(
        f"refusing to listen on {host} without an API key: anyone on the network could use "
        "the server. Give --api-key KEY (or --api-key-file FILE), or --insecure to allow it."
    )
