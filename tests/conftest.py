"""Shared fixtures of the in-process tests: Home Assistant, the fake provider and the harness.

Markers that configure them (registered below):

* ``@pytest.mark.fake_provider(alg="ES256", user=USER)``: the ``provider`` fixture's signing
  algorithm and user (defaults: ES256, alice the administrator).
* ``@pytest.mark.harness(settle=False, before_setup=None, after_setup=None, **setup_options)``:
  the ``harness`` fixture's ``setup_harness`` options; ``await before_setup(hass)`` runs first,
  ``settle`` waits for the set-up's background warm-up, and ``after_setup(harness)`` (sync or
  async) runs once the integration is set up.
* ``@pytest.mark.recorder_first``: start the recorder before Home Assistant (logbook tests).
* ``@pytest.mark.without_hass``: no in-process Home Assistant (set on tests/oidc and tests/e2e
  by their conftest.py).

Modules that log in through the integration use ``pytest.mark.usefixtures("onboarded",
"client_id_pages")``.
"""

import copy
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.core import HomeAssistant

from tests.client_app import (
    REAL_FETCH_REDIRECT_URIS,
    REGISTERED_REDIRECT_URI,
    ClientApp,
    client_app_page,
)
from tests.fake_provider import FakeProvider
from tests.login_driver import ONBOARDING, USER, Harness, setup_harness


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers of the shared fixtures."""
    for line in (
        "fake_provider(alg, user): signing algorithm and user of the provider fixture",
        "harness(settle, before_setup, after_setup, **options): how the harness fixture sets up",
        "recorder_first: start the recorder before Home Assistant",
        "without_hass: the test runs no in-process Home Assistant (tests/oidc, tests/e2e)",
    ):
        config.addinivalue_line("markers", line)


def _marker_kwargs(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    """Return the keyword arguments of the closest marker `name` (none: empty)."""
    marker = request.node.get_closest_marker(name)
    return dict(marker.kwargs) if marker else {}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load custom_components/auth_oidc in tests."""
    if request.node.get_closest_marker("without_hass"):
        return
    if request.node.get_closest_marker("recorder_first"):
        request.getfixturevalue("recorder_mock")
    request.getfixturevalue("enable_custom_integrations")


@pytest.fixture
def hass_config_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Give each Home Assistant an empty config directory of its own (bans, new files go there)."""
    return str(tmp_path_factory.mktemp("hass-config"))


@pytest.fixture
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[FakeProvider]:
    """Run the in-process OpenID Provider; ES256 with alice, an administrator, unless marked."""
    options = _marker_kwargs(request, "fake_provider")
    async with FakeProvider.running(alg=options.get("alg", "ES256")) as running:
        running.user = dict(options.get("user", USER))
        yield running


@pytest.fixture
def onboarded(hass_storage: dict[str, Any], local_auth: Any) -> None:
    """Start onboarded, with Home Assistant's own username/password login configured."""
    hass_storage["onboarding"] = copy.deepcopy(ONBOARDING)  # tests may change their copy


@pytest.fixture
def client_id_pages() -> Iterator[AsyncMock]:
    """Answer IndieAuth client_id page fetches with "no redirect URIs" (no network in tests)."""
    with patch(
        "homeassistant.components.auth.indieauth.fetch_redirect_uris",
        AsyncMock(return_value=[]),
    ) as fetch:
        yield fetch


@pytest.fixture
async def registered_client(client_id_pages: AsyncMock) -> AsyncIterator[ClientApp]:
    """A third-party client whose page, really fetched, registers a cross-origin redirect_uri."""
    async with client_app_page(REGISTERED_REDIRECT_URI) as client:
        client_id_pages.side_effect = REAL_FETCH_REDIRECT_URIS
        yield client


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest,
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
) -> Harness:
    """Set up the integration against `provider` and return the login driver."""
    options = _marker_kwargs(request, "harness")
    settle = options.pop("settle", False)
    before_setup = options.pop("before_setup", None)
    after_setup = options.pop("after_setup", None)
    if before_setup is not None:
        await before_setup(hass)
    running = await setup_harness(hass, hass_client_no_auth, provider, **options)
    if settle:
        # The set-up's background warm-up fetches discovery and keys: let it finish first.
        await hass.async_block_till_done(wait_background_tasks=True)
    if after_setup is not None and inspect.isawaitable(result := after_setup(running)):
        await result
    return running
