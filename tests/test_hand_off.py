"""Tests for hand_off.py: a verified login gets Home Assistant's checks, user and code."""

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from homeassistant.auth.const import GROUP_ID_ADMIN, GROUP_ID_USER
from homeassistant.core import HomeAssistant

from custom_components.auth_oidc.const import DOMAIN
from custom_components.auth_oidc.hand_off import ACCOUNT_REFUSALS
from custom_components.auth_oidc.hass_auth import UserRefusal
from custom_components.auth_oidc.login_page import LoginPageReason
from tests.login_driver import REDIRECT_URI, setup_harness

pytestmark = [pytest.mark.usefixtures("onboarded"), pytest.mark.fake_provider(alg="RS256")]


async def test_full_login_creates_admin_and_hands_off(
    hass: HomeAssistant, hass_client_no_auth, provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    response = await harness.login(store_token="true")
    assert response.status == 302, await response.text()
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "&code=")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["client-state-123"]
    assert query["storeToken"] == ["true"]
    tokens = await harness.redeem(location)
    refresh_token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert refresh_token is not None
    user = refresh_token.user
    assert user.name == "Alice Admin"
    assert [group.id for group in user.groups] == [GROUP_ID_ADMIN]
    assert user.credentials[0].data["sub"] == provider.user["sub"]
    assert user.credentials[0].auth_provider_type == DOMAIN
    # A person was created for the new user.
    await hass.async_block_till_done()
    persons = hass.data["person"][1].async_items()
    assert [person["user_id"] for person in persons] == [user.id]
    # Nothing secret reached the log.
    for secret in (query["code"][0], tokens["access_token"], tokens["refresh_token"]):
        assert secret not in caplog.text


async def test_second_login_reuses_user_and_applies_role_change(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    first = await harness.login_ok()
    first_token = hass.auth.async_get_refresh_token_by_token(first["refresh_token"])
    assert first_token is not None
    user = first_token.user
    provider.user = {**provider.user, "groups": ["users"], "name": "Alice Demoted"}
    second = await harness.login_ok()
    second_token = hass.auth.async_get_refresh_token_by_token(second["refresh_token"])
    assert second_token is not None
    same_user = second_token.user
    assert same_user.id == user.id
    assert same_user.name == "Alice Demoted"
    assert [group.id for group in same_user.groups] == [GROUP_ID_USER]
    assert len(await hass.auth.async_get_users()) == len(
        {u.id for u in await hass.auth.async_get_users()}
    )


def test_each_of_home_assistants_refusals_has_a_page_of_its_own() -> None:
    assert set(ACCOUNT_REFUSALS) == set(UserRefusal)
    assert len(set(ACCOUNT_REFUSALS.values())) == len(UserRefusal)
    assert ACCOUNT_REFUSALS[UserRefusal.LOCAL_ONLY] is not LoginPageReason.ACCOUNT_DISABLED
