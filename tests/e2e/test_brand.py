"""Home Assistant serves the integration's own brand images, and its UI shows the icon.

Since 2026.3, Home Assistant serves a custom integration's ``brand/`` folder at
``/api/brands/integration/<domain>/<image>`` (for a logged-in user, or with the short-lived
token the frontend gets over the websocket). The add-integration dialog loads the icon from
there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from . import ha_pages
from .conftest import HassFactory
from .hass_process import INTEGRATION_SOURCE

pytestmark = pytest.mark.e2e

BRAND_DIR = INTEGRATION_SOURCE / "brand"
INTEGRATION_NAME = "OpenID Connect/SSO Authentication"
ICON_URL = re.compile(r"/api/brands/integration/auth_oidc/(dark_)?icon(@2x)?\.png")


def test_every_brand_image_is_served(hass_factory: HassFactory) -> None:
    """Each image of brand/ comes back byte for byte; none falls back to a placeholder."""
    hass = hass_factory(with_integration=True)
    images = sorted(path.name for path in BRAND_DIR.iterdir())
    assert len(images) == 8
    for image in images:
        response = hass.api("GET", f"/api/brands/integration/auth_oidc/{image}?placeholder=no")
        assert response.status == 200, (image, response.status)
        assert response.headers["Content-Type"] == "image/png"
        assert response.body == (BRAND_DIR / image).read_bytes(), image
    # Without a login or token, Home Assistant refuses (403, not counted as a failed login).
    assert hass.request("GET", "/api/brands/integration/auth_oidc/icon.png").status == 403


def test_add_integration_dialog_shows_the_icon(
    hass_factory: HassFactory, page: Page, screenshot: Callable[[str], Path]
) -> None:
    """The owner searches for the integration and sees its icon, loaded from Home Assistant."""
    hass = hass_factory(with_integration=True)
    page.goto(f"{hass.url}/")
    welcome = ha_pages.welcome_heading(page)
    expect(welcome.or_(ha_pages.username_field(page))).to_be_visible()
    if welcome.is_visible():  # an instance reused from a test that set up single sign-on
        ha_pages.other_login_method_link(page).click()
    ha_pages.password_login(page, hass.owner_username, hass.owner_password)
    ha_pages.expect_dashboard(page, hass, user_name=hass.owner_name)

    result = ha_pages.search_integration(page, hass, INTEGRATION_NAME)
    expect(result).to_be_visible()
    icon = result.locator("img")
    expect(icon).to_have_attribute("src", ICON_URL)
    icon.scroll_into_view_if_needed()
    page.wait_for_function(
        "image => image.complete && image.naturalWidth > 0", arg=icon.element_handle()
    )
    assert icon.evaluate("image => image.naturalWidth") in (256, 512)
    screenshot("add-integration-icon")
