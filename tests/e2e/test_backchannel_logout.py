"""Back-channel logout sent by the real test provider ends the Home Assistant session.

The provider runs with ``backchannel_logout`` on (Pocket ID has no back-channel logout; the
test provider gains it from ``oidc-provider``) and its public client registers Home
Assistant's ``/auth/oidc/backchannel-logout`` with ``backchannel_logout_session_required``,
so ID tokens and logout tokens carry the provider session's ``sid``. ``oidc-provider``
delivers the logout tokens before its logout confirmation answers, so the Home Assistant
session must already be gone when the browser gets that answer.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from . import ha_pages
from .conftest import HassFactory, PageFactory, PortRegistry, ProviderFactory
from .hass_process import HassInstance
from .provider_process import ProviderProcess, default_clients
from .support import LOOPBACK

pytestmark = pytest.mark.e2e

DISPLAY_NAME = ha_pages.SSO_DISPLAY_NAME
CALLBACK_URL = re.compile(r"/auth/oidc/callback\?")
END_SESSION_CONFIRM_URL = re.compile(r"/api/oidc/end-session/confirm$")


@pytest.fixture
def backchannel_provider(
    oidc_provider_factory: ProviderFactory, e2e_ports: PortRegistry
) -> ProviderProcess:
    """Run the test provider with back-channel logout to the default hass port."""
    hass_url = f"http://{LOOPBACK}:{e2e_ports('hass')}"
    clients = [
        {
            **client,
            "backchannel_logout_uri": f"{hass_url}/auth/oidc/backchannel-logout",
            "backchannel_logout_session_required": True,
        }
        for client in default_clients(hass_url)
    ]
    return oidc_provider_factory(
        clients=clients,
        extra_config={"backchannel_logout": True},
        port=e2e_ports("backchannel-provider"),
    )


def sso_login_as_alice(page: Page, hass: HassInstance) -> dict[str, Any]:
    """Log in through the welcome page and the provider's form; return the frontend's tokens."""
    ha_pages.start_sso_login(page, hass, DISPLAY_NAME)
    with page.expect_response(CALLBACK_URL):
        ha_pages.provider_login(page, "alice", "alice-password")
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")
    tokens = ha_pages.stored_tokens(page)
    assert tokens is not None, "the frontend did not store hassTokens"
    return tokens


def refresh_status(hass: HassInstance, tokens: dict[str, Any]) -> int:
    """Return the HTTP status of a refresh grant with the frontend's refresh token."""
    response = hass.request(
        "POST",
        "/auth/token",
        form={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": tokens["clientId"],
        },
    )
    return response.status


def api_status(hass: HassInstance, tokens: dict[str, Any]) -> int:
    """Return the HTTP status of GET /api/ with the frontend's access token."""
    return hass.request("GET", "/api/", token=tokens["access_token"]).status


def test_provider_logout_ends_that_home_assistant_session(
    hass_factory: HassFactory,
    backchannel_provider: ProviderProcess,
    page: Page,
    new_page: PageFactory,
) -> None:
    """Signing out at the provider ends that browser's HA session at once, not another's."""
    hass = hass_factory(
        ha_pages.sso_config_yaml(backchannel_provider.discovery_url), with_integration=True
    )
    ended = sso_login_as_alice(page, hass)
    other_page = new_page()  # a second device, with its own provider session
    kept = sso_login_as_alice(other_page, hass)
    assert refresh_status(hass, ended) == 200
    assert api_status(hass, ended) == 200
    backchannel_provider.reset_counts()

    # Sign out at the provider in a second tab of the first browser (an admin would end the
    # session the same way): the provider posts a logout token naming that session's sid.
    provider_tab = page.context.new_page()
    provider_tab.goto(f"{backchannel_provider.issuer}/api/oidc/end-session")
    began = time.monotonic()
    with provider_tab.expect_response(END_SESSION_CONFIRM_URL) as confirmed:
        provider_tab.get_by_role("button", name="Sign out").click()
    assert confirmed.value.status == 303
    answered = time.monotonic() - began
    refresh_after_logout = refresh_status(hass, ended)
    api_after_logout = api_status(hass, ended)
    ended_after = time.monotonic() - began
    print(
        f"back-channel logout: provider answered after {answered * 1000:.0f} ms; "
        f"HA session checked ended {ended_after * 1000:.0f} ms after the click"
    )

    assert backchannel_provider.request_counts()["backchannel_logout"] == 1
    assert backchannel_provider.request_counts()["backchannel_logout_failed"] == 0
    assert refresh_after_logout == 400
    assert api_after_logout == 401
    expect(provider_tab.locator("#signed-out")).to_be_visible()

    # The frontend's next request is refused: it drops its tokens and shows the login choice.
    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))
    expect(ha_pages.welcome_heading(page)).to_be_visible()

    # The session of the other device, another provider session, is untouched.
    assert refresh_status(hass, kept) == 200
    assert api_status(hass, kept) == 200
    expect(other_page.locator("home-assistant")).to_be_attached()
