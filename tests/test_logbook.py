"""Integration test: the logbook (with the recorder) describes each audit event in one line."""

from datetime import timedelta
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from tests.fake_provider import FakeProvider
from tests.login_driver import (
    BAN_THRESHOLD,
    USER,
    setup_harness,
)

pytestmark = [
    pytest.mark.usefixtures("onboarded", "client_id_pages"),
    pytest.mark.recorder_first,
]

PROXY = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]}
INTERNET = {"X-Forwarded-For": "203.0.113.9"}


async def test_logbook_describes_each_event(
    hass: HomeAssistant, hass_client: Any, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    # Logbook (with the frontend) before the client freezes the router; http as the harness sets it.
    assert await async_setup_component(
        hass, "http", {"http": {**PROXY, "login_attempts_threshold": BAN_THRESHOLD}}
    )
    assert await async_setup_component(hass, "logbook", {})
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, http=PROXY, roles={"user": "users"}
    )
    start = dt_util.utcnow() - timedelta(seconds=1)
    await harness.login_ok(headers=INTERNET)
    provider.user = {**USER, "groups": ["users"]}
    await harness.login_ok()
    provider.user = {**USER, "groups": []}
    await harness.login()
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)

    client = await hass_client()
    response = await client.get(f"/api/logbook/{start.isoformat()}")
    assert response.status == 200
    lines = [
        (entry["name"], entry["message"])
        for entry in await response.json()
        if entry.get("domain") == "auth_oidc"
    ]
    assert lines == [
        ("Pocket ID", "Alice Admin logged in as admin for the first time from 203.0.113.0/24"),
        ("Pocket ID", "Role changed from admin to user from 127.0.0.0/24 (local network)"),
        ("Pocket ID", "Alice Admin logged in as user from 127.0.0.0/24 (local network)"),
        (
            "Pocket ID",
            "Login of Alice Admin refused (not_allowed) from 127.0.0.0/24 (local network)",
        ),
    ]
