"""FauxPilot: a self-hosted, offline code-completion server."""

__version__ = "0.1.0"
