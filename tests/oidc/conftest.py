"""Fixtures for the OpenID Connect core tests; they need no Home Assistant instance."""

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fake_clock import FakeClock
from tests.fake_provider import FakeProvider


@pytest.fixture
def auto_enable_custom_integrations() -> None:
    """Override the package-wide autouse fixture: the core runs without Home Assistant."""


@pytest.fixture(autouse=True)
def allow_sockets(socket_enabled: None) -> None:
    """Let the fake provider listen on 127.0.0.1 although the HA plugin blocks sockets."""


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    async with FakeProvider.running() as fake_provider:
        yield fake_provider


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
