"""Integration tests: audit events on Home Assistant's bus and their logbook lines."""

from typing import Any

import pytest
from homeassistant.core import Event, HomeAssistant

from custom_components.auth_oidc.const import (
    EVENT_LOGIN,
    EVENT_LOGIN_REFUSED,
    EVENT_ROLE_CHANGED,
    EVENT_USER_LINKED,
)
from custom_components.auth_oidc.logbook import (
    describe_device_approved,
    describe_revoked,
    describe_user_linked,
)
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    USER,
    Harness,
    local_user,
    response_secrets,
    setup_harness,
)

PROXY = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]}
INTERNET = {"X-Forwarded-For": "203.0.113.9"}


pytestmark = [
    pytest.mark.usefixtures("onboarded", "client_id_pages"),
    pytest.mark.harness(http=PROXY, roles={"user": "users"}),
]


def capture(hass: HomeAssistant, event_type: str) -> list[Event]:
    events: list[Event] = []
    hass.bus.async_listen(event_type, events.append)
    return events


def assert_no_secret(harness: Harness, event: Event) -> None:
    """No token, code, client secret or full address in the event."""
    text = repr(event.data)
    for secret in response_secrets(harness.provider):
        assert secret not in text
    for _, code in harness.issued_codes:
        assert code not in text
    assert "203.0.113.9" not in text
    assert "127.0.0.1" not in text


async def user_id_of(hass: HomeAssistant, tokens: dict[str, Any]) -> str:
    token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert token is not None
    return token.user.id


async def test_login_event_names_user_role_and_network(
    hass: HomeAssistant, harness: Harness
) -> None:
    logins = capture(hass, EVENT_LOGIN)
    user_id = await user_id_of(hass, await harness.login_ok(headers=INTERNET))
    await harness.login_ok()
    await hass.async_block_till_done()

    first, second = logins
    assert first.data["user_id"] is None
    assert first.data["new_user"] is True
    assert first.data["network"] == "203.0.113.0/24"
    assert first.data["local"] is False
    assert second.data == {
        "user_id": user_id,
        "provider": "Pocket ID",
        "network": "127.0.0.0/24",
        "local": True,
        "account": "Alice Admin",
        "username": "alice",
        "role": "admin",
        "new_user": False,
        "client_id": "https://ha.example.com/",
    }
    for event in logins:
        assert_no_secret(harness, event)


async def test_refused_login_event_carries_the_page_reason(
    hass: HomeAssistant, harness: Harness, provider: FakeProvider
) -> None:
    refused = capture(hass, EVENT_LOGIN_REFUSED)
    provider.user = {**USER, "groups": []}
    response = await harness.login(headers=INTERNET)
    assert response.status == 403
    await hass.async_block_till_done()

    [event] = refused
    assert event.data == {
        "user_id": None,
        "provider": "Pocket ID",
        "network": "203.0.113.0/24",
        "local": False,
        "reason": "not_allowed",
        "account": "Alice Admin",
    }
    assert_no_secret(harness, event)


async def test_refused_event_for_a_blocked_user_names_the_user(
    hass: HomeAssistant, harness: Harness
) -> None:
    refused = capture(hass, EVENT_LOGIN_REFUSED)
    tokens = await harness.login_ok()
    token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert token is not None
    await hass.auth.async_update_user(token.user, is_active=False)
    response = await harness.login()
    assert response.status == 403
    await hass.async_block_till_done()

    [event] = refused
    assert event.data["reason"] == "account_disabled"
    assert event.data["user_id"] == token.user.id
    assert_no_secret(harness, event)


async def test_stray_callback_fires_no_event(hass: HomeAssistant, harness: Harness) -> None:
    refused = capture(hass, EVENT_LOGIN_REFUSED)
    response = await harness.callback({"state": "never-issued", "code": "x"})
    assert response.status == 400
    await hass.async_block_till_done()
    assert refused == []


async def test_role_change_event_follows_the_provider_groups(
    hass: HomeAssistant, harness: Harness, provider: FakeProvider
) -> None:
    changes = capture(hass, EVENT_ROLE_CHANGED)
    user_id = await user_id_of(hass, await harness.login_ok())
    await harness.login_ok()
    await hass.async_block_till_done()
    assert changes == []

    provider.user = {**USER, "groups": ["users"]}
    await harness.login_ok(headers=INTERNET)
    await hass.async_block_till_done()

    [event] = changes
    assert event.data == {
        "user_id": user_id,
        "provider": "Pocket ID",
        "network": "203.0.113.0/24",
        "local": False,
        "reason": "provider_groups",
        "old_role": "admin",
        "new_role": "user",
    }
    assert_no_secret(harness, event)


async def test_user_linked_event_names_the_existing_user(
    hass: HomeAssistant, hass_client_no_auth: Any, local_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        http=PROXY,
        features={"automatic_user_linking": True},
    )
    existing = await local_user(hass, local_auth, "alice", "Alice Local")
    linked = capture(hass, EVENT_USER_LINKED)
    await harness.login_ok(headers=INTERNET)
    await harness.login_ok()
    await hass.async_block_till_done()

    [event] = linked
    assert event.data == {
        "user_id": existing.id,
        "provider": "Pocket ID",
        "network": "203.0.113.0/24",
        "local": False,
        "reason": "username_match",
        "username": "alice",
    }
    assert_no_secret(harness, event)
    assert describe_user_linked(event.data) == (
        "Linked to the existing Home Assistant user alice from 203.0.113.0/24"
    )


def test_logbook_lines_of_provider_driven_events() -> None:
    revoked = {"reason": "backchannel_logout", "sessions": 2, "user_id": "u1"}
    assert describe_revoked(revoked) == "Ended 2 session(s) (backchannel_logout)"
    approved = {
        "account": "Alice Admin",
        "device": "Home Assistant iOS app (iPhone)",
        "network": "192.168.1.0/24",
        "local": True,
        "approver_network": "198.51.100.0/24",
    }
    assert describe_device_approved(approved) == (
        "Alice Admin approved a login on Home Assistant iOS app (iPhone) from 192.168.1.0/24 "
        "(local network), approved from 198.51.100.0/24"
    )
