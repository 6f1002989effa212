"""Shared fixtures: the HTTP app around a FakeEngine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from fauxpilot.api import create_app

from .fakes import FakeEngine


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(context_length=1024)


@pytest.fixture
def client(engine: FakeEngine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, "fake-model")) as test_client:
        yield test_client
