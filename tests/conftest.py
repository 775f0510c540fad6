"""Shared fixtures: custom integrations enabled for every Home Assistant test."""

from collections.abc import AsyncIterator

import pytest

from tests.adversarial_support import USER
from tests.fake_provider import FakeProvider


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/auth_oidc in tests."""


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    """Run the in-process OpenID Provider (ES256) with alice, an administrator, as its user."""
    async with FakeProvider.running(alg="ES256") as running:
        running.user = dict(USER)
        yield running
