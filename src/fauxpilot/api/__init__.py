"""HTTP only: the FastAPI app factory and routers per protocol."""

from fauxpilot.api.app import create_app

__all__ = ["create_app"]
