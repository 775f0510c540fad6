"""Re-checking access at the provider, with a real hass process and the real test provider.

The test provider behaves like Pocket ID: a refresh token with every code, rotated at every
use, and `invalid_grant` for the refresh tokens of a user who was disabled.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from . import ha_pages
from .conftest import HassFactory
from .hass_process import HassInstance
from .provider_process import ProviderProcess
from .support import wait_until

pytestmark = pytest.mark.e2e

DISPLAY_NAME = ha_pages.SSO_DISPLAY_NAME
CALLBACK_URL = re.compile(r"/auth/oidc/callback\?")
# The shortest period the option allows: one minute.
RECHECK_YAML = "  features:\n    recheck_access: true\n    recheck_interval: 1\n"
PERIOD_SECONDS = 60.0
# Room for a busy machine on top of one period; the test waits only as long as needed.
MARGIN_SECONDS = 45.0


def refresh_status(hass: HassInstance, refresh_token: str, client_id: str) -> int:
    """Use a Home Assistant refresh token as the frontend does; return the HTTP status."""
    response = hass.request(
        "POST",
        "/auth/token",
        form={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        },
    )
    return response.status


def test_disabling_a_user_at_the_provider_ends_their_session_within_one_period(
    hass_factory: HassFactory, provider: ProviderProcess, page: Page
) -> None:
    """Bob logs in; disabled at the provider, his Home Assistant session ends at the next check."""
    hass = hass_factory(
        ha_pages.sso_config_yaml(provider.discovery_url) + RECHECK_YAML, with_integration=True
    )
    ha_pages.start_sso_login(page, hass, DISPLAY_NAME)
    with page.expect_response(CALLBACK_URL):
        ha_pages.provider_login(page, "bob", "bob-password")
    ha_pages.expect_dashboard(page, hass, user_name="Bob User")
    tokens = ha_pages.stored_tokens(page)
    assert tokens is not None
    refresh_token, client_id = tokens["refresh_token"], tokens["clientId"]
    assert refresh_status(hass, refresh_token, client_id) == 200

    provider.update_user("bob", disabled=True)
    try:
        wait_until(
            lambda: True if refresh_status(hass, refresh_token, client_id) == 400 else None,
            timeout=PERIOD_SECONDS + MARGIN_SECONDS,
            interval=2.0,
            what="the access re-check to end Bob's session",
        )
    finally:
        provider.update_user("bob", disabled=False)

    # The browser's session is gone too: reloading shows the login choice.
    page.reload()
    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))
    expect(ha_pages.sso_button(page, DISPLAY_NAME)).to_be_visible()
    log = hass.log_text()
    assert "(provider_refused)" in log  # ended by the re-check, on the provider's invalid_grant
    assert refresh_token not in log
