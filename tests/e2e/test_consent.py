"""Consent in a real browser: another application never gets a silent login (issue #14.1).

With ``default_redirect`` on and a provider session already in the browser, a login for
Home Assistant's own frontend needs no click at all. A stranger's client that copies the
frontend's request shape (client_id path ``/``, ``auth_callback=1``) must not get the same:
the browser has to stop on the welcome page that names the stranger's host.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse

import pytest
from playwright.sync_api import Page, expect

from . import ha_pages
from .conftest import HassFactory, ProviderFactory

pytestmark = pytest.mark.e2e

ATTACKER_HOST = "attacker.example"
ATTACKER_CLIENT_ID = f"https://{ATTACKER_HOST}/"
ATTACKER_REDIRECT_URI = f"https://{ATTACKER_HOST}/x?auth_callback=1"


def attacker_authorize_query() -> str:
    """Return the attacker's authorize query, shaped like the frontend's, with PKCE."""
    verifier = "attacker-verifier-" + "v" * 40
    digest = hashlib.sha256(verifier.encode()).digest()
    return urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": ATTACKER_CLIENT_ID,
            "redirect_uri": ATTACKER_REDIRECT_URI,
            "state": "attacker-state",
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
    )


def test_stranger_shaped_like_the_frontend_stops_on_the_page_naming_it(
    hass_factory: HassFactory, oidc_provider_factory: ProviderFactory, page: Page
) -> None:
    """A provider session plus default_redirect logs the frontend in, never the stranger."""
    provider = oidc_provider_factory()
    hass = hass_factory(
        ha_pages.sso_config_yaml(provider.discovery_url)
        + "  features:\n    default_redirect: true\n",
        with_integration=True,
        fresh=True,
    )
    # The frontend itself goes straight to the provider; signing in there leaves a session.
    page.goto(f"{hass.url}/")
    expect(page).to_have_url(re.compile(rf"^{re.escape(provider.issuer)}/interaction/"))
    ha_pages.provider_login(page, "alice", "alice-password")
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")

    # Every request from here on, redirect hops included (before the fix: the provider,
    # our callback, then the attacker's redirect_uri with a Home Assistant code).
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{hass.url}/auth/authorize?{attacker_authorize_query()}")

    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))
    expect(page.locator("#client-host")).to_have_text(ATTACKER_HOST)
    expect(page.get_by_role("alert")).to_contain_text(ATTACKER_CLIENT_ID)
    expect(ha_pages.sso_button(page, ha_pages.SSO_DISPLAY_NAME)).to_be_visible()
    assert not [url for url in requested if url.startswith((provider.issuer, ATTACKER_CLIENT_ID))]
