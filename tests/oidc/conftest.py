"""Fixtures for the OpenID Connect core tests; they need no Home Assistant instance.

Their ``provider`` is the shared one of tests/conftest.py with FakeProvider's own defaults
(RS256, Ada Lovelace), and ``auto_enable_custom_integrations`` starts no Home Assistant.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from custom_components.auth_oidc.oidc import OIDCClient
from tests.fake_clock import FakeClock
from tests.fake_provider import DEFAULT_USER, FakeProvider

from .support import make_client

OIDC_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the core tests without Home Assistant, against FakeProvider's defaults."""
    for item in items:
        if item.path.is_relative_to(OIDC_TESTS):
            item.add_marker(pytest.mark.without_hass)
            item.add_marker(pytest.mark.fake_provider(alg="RS256", user=DEFAULT_USER))


@pytest.fixture(autouse=True)
def allow_sockets(socket_enabled: None) -> None:
    """Let the fake provider listen on 127.0.0.1 although the HA plugin blocks sockets."""


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(session: aiohttp.ClientSession, provider: FakeProvider) -> OIDCClient:
    """A relying party for `provider` with the core tests' default settings."""
    return make_client(session, provider)
