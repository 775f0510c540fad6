"""Logging out of Home Assistant after a single sign-on login, in a real browser.

One provider process for the module (one signing key, see test_sso_login.py). Its session
cookie outlives Home Assistant's logout unless ``features.end_provider_session`` is on.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from . import ha_pages
from .conftest import HassFactory
from .hass_process import HassInstance
from .provider_process import PUBLIC_CLIENT_ID, ProviderProcess

pytestmark = pytest.mark.e2e

DISPLAY_NAME = ha_pages.SSO_DISPLAY_NAME
CALLBACK_URL = re.compile(r"/auth/oidc/callback\?")
END_PROVIDER_SESSION_YAML = "  features:\n    end_provider_session: true\n"


def sso_login_as_alice(page: Page, hass: HassInstance) -> None:
    """Log in through the welcome page and the provider's form; wait for the dashboard."""
    ha_pages.start_sso_login(page, hass, DISPLAY_NAME)
    with page.expect_response(CALLBACK_URL):
        ha_pages.provider_login(page, "alice", "alice-password")
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")


def test_logout_shows_login_choice_while_provider_session_lives(
    hass_factory: HassFactory, provider: ProviderProcess, page: Page
) -> None:
    """After logging out, the welcome page stays; no silent re-login through the provider."""
    hass = hass_factory(ha_pages.sso_config_yaml(provider.discovery_url), with_integration=True)
    sso_login_as_alice(page, hass)
    callbacks: list[str] = []

    def note_callback(request: Request) -> None:
        if CALLBACK_URL.search(request.url):
            callbacks.append(request.url)

    page.on("request", note_callback)
    ha_pages.log_out(page, hass)

    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))
    expect(ha_pages.welcome_heading(page)).to_be_visible()
    expect(ha_pages.sso_button(page, DISPLAY_NAME)).to_be_visible()
    page.reload()
    expect(ha_pages.welcome_heading(page)).to_be_visible()
    assert callbacks == []
    assert ha_pages.stored_tokens(page) is None

    # The provider session is still alive: choosing it logs in again without a form.
    with page.expect_response(CALLBACK_URL):
        ha_pages.sso_button(page, DISPLAY_NAME).click()
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")


def test_end_provider_session_makes_the_provider_ask_again(
    hass_factory: HassFactory, provider: ProviderProcess, page: Page
) -> None:
    """With end_provider_session, logging out ends the provider session too (and no token leaks)."""
    hass = hass_factory(
        ha_pages.sso_config_yaml(provider.discovery_url) + END_PROVIDER_SESSION_YAML,
        with_integration=True,
    )
    sso_login_as_alice(page, hass)
    end_session_urls: list[str] = []

    def note_end_session(request: Request) -> None:
        if "/api/oidc/end-session" in request.url:
            end_session_urls.append(request.url)

    page.on("request", note_end_session)
    ha_pages.log_out(page, hass)

    # The provider's own confirmation page, reached with our hint, client_id and return URL.
    expect(page).to_have_url(re.compile(rf"^{re.escape(provider.issuer)}/"))
    assert end_session_urls, "the browser was not sent to the provider's end-session endpoint"
    params = parse_qs(urlsplit(end_session_urls[0]).query)
    assert params["client_id"] == [PUBLIC_CLIENT_ID]
    assert params["post_logout_redirect_uri"] == [f"{hass.url}/auth/oidc/logged-out"]
    assert params["id_token_hint"][0].count(".") == 2
    assert not any(c["value"] == params["id_token_hint"][0] for c in page.context.cookies())
    page.get_by_role("button", name="Sign out").click()

    # Back on the welcome page; the provider now asks who is logging in.
    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))
    assert params["id_token_hint"][0] not in page.content()
    ha_pages.sso_button(page, DISPLAY_NAME).click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    with page.expect_response(CALLBACK_URL):
        ha_pages.provider_login(page, "alice", "alice-password")
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")
