"""A provider outage appears under Settings → Repairs in Home Assistant's UI, and goes away."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from . import ha_pages
from .conftest import HassFactory, ProviderFactory
from .hass_process import HassInstance

pytestmark = pytest.mark.e2e

# The integration asks a failed provider again after 5 s at the earliest.
RETRY_INTERVAL = 5.5


def our_issues(hass: HassInstance) -> list[dict[str, Any]]:
    """Return the repair issues of the integration, as Home Assistant's UI lists them."""
    result = hass.ws_command("repairs/list_issues")
    return [issue for issue in result["issues"] if issue["domain"] == "auth_oidc"]


def open_welcome_page(browser: Browser, hass: HassInstance) -> None:
    """Open Home Assistant as a visitor would: the welcome page asks the provider."""
    context = browser.new_context(locale="en-US")
    try:
        visitor = context.new_page()
        visitor.goto(f"{hass.url}/")
        expect(visitor).to_have_url(ha_pages.welcome_url_pattern(hass))
    finally:
        context.close()


def test_unreachable_provider_shows_a_repair_until_it_answers_again(
    oidc_provider_factory: ProviderFactory,
    hass_factory: HassFactory,
    browser: Browser,
    page: Page,
    screenshot: Callable[[str], Path],
) -> None:
    """Stop the provider: visitors keep trying, the admin sees why; start it: the repair goes."""
    provider = oidc_provider_factory()
    provider.stop()
    hass = hass_factory(
        ha_pages.sso_config_yaml(provider.discovery_url), with_integration=True, fresh=True
    )
    for _ in range(6):
        if our_issues(hass):
            break
        time.sleep(RETRY_INTERVAL)
        open_welcome_page(browser, hass)
    [issue] = our_issues(hass)
    assert issue["translation_key"] == "provider_unreachable"

    # The owner still logs in with the password and finds the explanation in the UI.
    page.goto(f"{hass.url}/")
    ha_pages.other_login_method_link(page).click()
    ha_pages.password_login(page, hass.owner_username, hass.owner_password)
    ha_pages.expect_dashboard(page, hass, user_name=hass.owner_name)
    page.goto(f"{hass.url}/config/repairs")
    title = page.get_by_text(f"{ha_pages.SSO_DISPLAY_NAME} cannot be reached")
    expect(title).to_be_visible()
    screenshot("repair-shown")
    title.click()
    expect(
        page.get_by_text("Home Assistant's own login with username and password")
    ).to_be_visible()

    provider.start()
    time.sleep(RETRY_INTERVAL)
    open_welcome_page(browser, hass)
    assert our_issues(hass) == []
    page.goto(f"{hass.url}/config/repairs")
    expect(page.get_by_role("heading", name="Repairs")).to_be_visible()
    expect(title).to_have_count(0)
    screenshot("repair-gone")
