"""Baseline: Home Assistant's own username/password login works in a real browser."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from . import ha_pages
from .hass_process import HassInstance

pytestmark = pytest.mark.e2e


def test_password_login_reaches_dashboard(
    hass_server: HassInstance, page: Page, screenshot: Callable[[str], Path]
) -> None:
    """Log in as the owner on HA's login page and land on the dashboard."""
    hass = hass_server

    page.goto(f"{hass.url}/")

    # The frontend sends the anonymous visitor to HA's login page.
    expect(page).to_have_url(ha_pages.authorize_url_pattern(hass))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["client_id"] == [f"{hass.url}/"]
    assert query["redirect_uri"] == [f"{hass.url}/?auth_callback=1"]
    expect(ha_pages.username_field(page)).to_be_visible()
    expect(ha_pages.password_field(page)).to_be_visible()
    expect(ha_pages.keep_logged_in_checkbox(page)).to_be_checked()
    screenshot("login-page")

    ha_pages.password_login(page, hass.owner_username, hass.owner_password, keep_logged_in=True)

    # The dashboard has loaded (launch screen gone), with the owner's admin sidebar.
    ha_pages.expect_dashboard(page, hass, user_name=hass.owner_name)
    expect(page.locator("ha-sidebar").get_by_text("Settings", exact=True)).to_be_visible()
    screenshot("dashboard")

    # "Keep me logged in" makes the frontend store its tokens.
    tokens = ha_pages.stored_tokens(page)
    assert tokens is not None, "the frontend did not store hassTokens"
    assert tokens["hassUrl"] == hass.url
    assert tokens["clientId"] == f"{hass.url}/"
    assert tokens["refresh_token"]

    # The browser's token is the owner's, from the homeassistant auth provider.
    [user] = hass.ws_commands([{"type": "auth/current_user"}], token=tokens["access_token"])
    assert user["name"] == hass.owner_name
    assert user["is_owner"] is True
    assert user["is_admin"] is True
    assert [c["auth_provider_type"] for c in user["credentials"]] == ["homeassistant"]
