"""Locators and steps for Home Assistant's own pages (frontend 20260930).

HA's login page (``/auth/authorize``: ``ha-authorize`` > ``ha-auth-flow`` >
``ha-auth-form``) renders into the light DOM: plain ``<input id="username">`` and
``<input id="password">`` with ``<label for=...>``, a ``ha-checkbox`` "Keep me logged in"
(checked by default) and a ``ha-button`` "Log in". "Password" needs ``exact=True``: the
"Show password" button also matches the label otherwise.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from .hass_process import HassInstance


def username_field(page: Page) -> Locator:
    """Return the username input of HA's login form."""
    return page.get_by_label("Username", exact=True)


def password_field(page: Page) -> Locator:
    """Return the password input of HA's login form."""
    return page.get_by_label("Password", exact=True)


def keep_logged_in_checkbox(page: Page) -> Locator:
    """Return the "Keep me logged in" checkbox of HA's login page."""
    return page.get_by_role("checkbox", name="Keep me logged in")


def login_button(page: Page) -> Locator:
    """Return the "Log in" button of HA's login form."""
    return page.get_by_role("button", name="Log in")


def authorize_url_pattern(hass: HassInstance) -> re.Pattern[str]:
    """Return a pattern for HA's login page URL."""
    return re.compile(rf"^{re.escape(hass.url)}/auth/authorize\?")


def dashboard_url_pattern(hass: HassInstance) -> re.Pattern[str]:
    """Return a pattern for the default dashboard's URL (/home/... or /lovelace/...)."""
    return re.compile(rf"^{re.escape(hass.url)}/(home|lovelace)(/|$)")


def password_login(
    page: Page, username: str, password: str, *, keep_logged_in: bool = True
) -> None:
    """Fill and submit HA's username/password form on the current login page."""
    username_field(page).fill(username)
    password_field(page).fill(password)
    keep_logged_in_checkbox(page).set_checked(keep_logged_in)
    login_button(page).click()


def expect_dashboard(page: Page, hass: HassInstance, user_name: str | None = None) -> None:
    """Wait until the frontend has loaded the default dashboard (and shows user_name)."""
    expect(page).to_have_url(dashboard_url_pattern(hass))
    # The "Loading..." launch screen covers the app until the first panel rendered; a
    # frontend that cannot load (e.g. a failing websocket command) never removes it.
    expect(page.locator("#ha-launch-screen")).to_have_count(0)
    expect(page.locator("hui-root .main-title")).to_have_text("Overview")
    sidebar = page.locator("ha-sidebar")
    expect(sidebar.locator("#sidebar-panel-home")).to_be_visible()
    if user_name is not None:
        expect(sidebar.get_by_text(user_name, exact=True)).to_be_visible()


def stored_tokens(page: Page) -> dict[str, Any] | None:
    """Return the frontend's ``localStorage.hassTokens`` (kept when "Keep me logged in")."""
    stored = page.evaluate("() => window.localStorage.getItem('hassTokens')")
    if not stored:
        return None
    tokens: dict[str, Any] = json.loads(stored)
    return tokens
