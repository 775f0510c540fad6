"""Back-channel requests per login and a set-up that never waits for the provider."""

import asyncio
from collections import Counter
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from custom_components.auth_oidc import WARM_UP_TASK_NAME
from custom_components.auth_oidc.const import DOMAIN
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    USER,
    Harness,
    setup_harness,
)

pytestmark = pytest.mark.usefixtures("onboarded", "client_id_pages")


BACK_CHANNEL = ("discovery", "jwks", "token", "userinfo")


async def warm_harness(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, **options: Any
) -> Harness:
    """Set up the integration and let its background warm-up finish."""
    harness = await setup_harness(hass, hass_client_no_auth, provider, **options)
    await hass.async_block_till_done(wait_background_tasks=True)
    return harness


async def back_channel_requests_of_a_login(harness: Harness) -> Counter[str]:
    """Log in once and return the requests Home Assistant sent to the provider meanwhile."""
    before = Counter(harness.provider.requests)
    await harness.login_ok()
    calls = Counter(harness.provider.requests)
    calls.subtract(before)
    return Counter({name: calls[name] for name in BACK_CHANNEL if calls[name]})


def warm_up_tasks() -> list[asyncio.Task[Any]]:
    """Return the running warm-up tasks of our config entries."""
    return [task for task in asyncio.all_tasks() if task.get_name() == WARM_UP_TASK_NAME]


async def test_a_login_sends_only_the_token_request_when_the_id_token_has_every_claim(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await warm_harness(hass, hass_client_no_auth, provider)
    # The background warm-up has fetched discovery and keys: even the first login needs neither.
    assert await back_channel_requests_of_a_login(harness) == Counter(token=1)
    assert await back_channel_requests_of_a_login(harness) == Counter(token=1)


@pytest.mark.parametrize("missing", ["name", "preferred_username", "groups"])
async def test_userinfo_is_asked_when_the_id_token_lacks_a_configured_claim(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, missing: str
) -> None:
    harness = await warm_harness(hass, hass_client_no_auth, provider)
    provider.id_token_claims_remove = {missing}
    assert await back_channel_requests_of_a_login(harness) == Counter(token=1, userinfo=1)
    user = next(user for user in await hass.auth.async_get_users() if user.name == USER["name"])
    # The claim came from UserInfo: the name, and the admin role from the groups.
    assert user.is_admin


async def test_userinfo_follows_the_configured_claim_names(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await warm_harness(
        hass, hass_client_no_auth, provider, claims={"username": "nickname"}
    )
    provider.userinfo_override = {"nickname": "ally"}
    assert await back_channel_requests_of_a_login(harness) == Counter(token=1, userinfo=1)
    provider.id_token_claims_override = {"nickname": "ally"}
    assert await back_channel_requests_of_a_login(harness) == Counter(token=1)


async def test_userinfo_is_asked_at_every_login_when_the_admin_wants_it(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await warm_harness(
        hass, hass_client_no_auth, provider, features={"always_fetch_userinfo": True}
    )
    assert await back_channel_requests_of_a_login(harness) == Counter(token=1, userinfo=1)


async def test_userinfo_of_another_subject_still_fails_the_login(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await warm_harness(hass, hass_client_no_auth, provider)
    provider.id_token_claims_remove = {"groups"}
    provider.userinfo_override = {"sub": "someone-else", "groups": ["admins"]}
    response = await harness.login()
    # OIDC Core 1.0 §5.3.2: UserInfo of another sub is never merged.
    assert response.status == 400
    assert "Location" not in response.headers
    assert not harness.issued_codes


async def test_setup_does_not_wait_for_a_hanging_provider(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    provider.response_delay = {"discovery": 3600}
    harness = await setup_harness(hass, hass_client_no_auth, provider)
    # Set up, while the warm-up has yet to hear from the provider.
    assert harness.entry.state is ConfigEntryState.LOADED
    done, pending = await asyncio.wait(warm_up_tasks(), timeout=0.5)
    assert (len(done), len(pending)) == (0, 1)
    assert provider.requests["discovery"] == 1

    assert await hass.config_entries.async_unload(harness.entry_id)
    await hass.async_block_till_done()
    assert not warm_up_tasks()

    provider.response_delay = {}
    assert await hass.config_entries.async_setup(harness.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not warm_up_tasks()
    assert await back_channel_requests_of_a_login(harness) == Counter(token=1)
    assert hass.config_entries.async_entries(DOMAIN)[0].state is ConfigEntryState.LOADED
