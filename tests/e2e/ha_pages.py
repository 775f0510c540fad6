"""Locators and steps for Home Assistant's own pages (frontend 20260930).

HA's login page (``/auth/authorize``: ``ha-authorize`` > ``ha-auth-flow`` >
``ha-auth-form``) renders into the light DOM: plain ``<input id="username">`` and
``<input id="password">`` with ``<label for=...>``, a ``ha-checkbox`` "Keep me logged in"
(checked by default) and a ``ha-button`` "Log in". "Password" needs ``exact=True``: the
"Show password" button also matches the label otherwise.

The helpers at the end cover the single sign-on pages of ``auth_oidc`` (welcome and error
page) and the test OpenID Provider's sign-in form.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Frame, Locator, Page, Request, expect

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


# ------------------------------------------------------ single sign-on (auth_oidc)
#
# The welcome page (/auth/oidc/welcome) and the error page of the integration are plain
# server-rendered HTML: a heading, one form per provider with a "Keep me logged in"
# checkbox and a "Log in with <provider>" button, and a "Use another login method" link.
# The test provider's login page has "Username"/"Password" fields and a "Sign in" button.


def welcome_url_pattern(hass: HassInstance) -> re.Pattern[str]:
    """Return a pattern for the integration's welcome page URL."""
    return re.compile(rf"^{re.escape(hass.url)}/auth/oidc/welcome\?")


def welcome_heading(page: Page) -> Locator:
    """Return the heading of the welcome page."""
    return page.get_by_role("heading", name="Log in to Home Assistant")


def sso_button(page: Page, display_name: str) -> Locator:
    """Return the welcome page's "Log in with <display_name>" button."""
    return page.get_by_role("button", name=f"Log in with {display_name}")


def other_login_method_link(page: Page) -> Locator:
    """Return the "Use another login method" link of the welcome and error pages."""
    return page.get_by_role("link", name="Use another login method")


def error_heading(page: Page) -> Locator:
    """Return the heading of the integration's error page."""
    return page.get_by_role("heading", name="Login did not work")


def provider_login(page: Page, username: str, password: str) -> None:
    """Fill and submit the test OpenID Provider's sign-in form."""
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def start_sso_login(page: Page, hass: HassInstance, display_name: str) -> None:
    """Open hass, expect the welcome page and click "Log in with <display_name>"."""
    page.goto(f"{hass.url}/")
    expect(page).to_have_url(welcome_url_pattern(hass))
    sso_button(page, display_name).click()


def browser_auth_data(page: Page) -> dict[str, Any]:
    """Return the frontend's auth data (tokens), whether or not it stored them."""
    data: dict[str, Any] = page.evaluate("async () => (await window.hassConnection).auth.data")
    return data


class NavigationLog:
    """Record the main frame's document requests (each redirect hop counts)."""

    def __init__(self, page: Page) -> None:
        """Start recording on page."""
        self.requests: list[str] = []
        self.committed: list[str] = []
        self._page = page
        page.on("request", self._on_request)
        page.on("framenavigated", self._on_navigated)

    def _on_request(self, request: Request) -> None:
        """Keep main-frame navigation requests."""
        if request.is_navigation_request() and request.frame == self._page.main_frame:
            self.requests.append(f"{request.method} {request.url}")

    def _on_navigated(self, frame: Frame) -> None:
        """Keep main-frame URL changes (document loads and history API changes)."""
        if frame == self._page.main_frame:
            self.committed.append(frame.url)

    def stop(self) -> None:
        """Stop recording."""
        self._page.remove_listener("request", self._on_request)
        self._page.remove_listener("framenavigated", self._on_navigated)


SSO_DISPLAY_NAME = "Pocket ID"


def sso_config_yaml(
    discovery_url: str,
    *,
    client_id: str = "home-assistant",
    client_secret: str | None = None,
    display_name: str = SSO_DISPLAY_NAME,
) -> str:
    """Return the ``person:`` and ``auth_oidc:`` YAML for the test provider's groups."""
    secret = f"\n  client_secret: {client_secret}" if client_secret else ""
    return f"""\
person:
auth_oidc:
  client_id: {client_id}{secret}
  discovery_url: {discovery_url}
  display_name: {display_name}
  roles:
    admin: admins
    user: users
"""


# ------------------------------------------------- integrations page and config flows
#
# Settings → Devices & services (/config/integrations/dashboard) has an "Add integration"
# button that opens ``dialog-add-integration``: a search field (placeholder "Search for a
# brand name", no label) and one button per brand. A config flow then runs in
# ``dialog-data-entry-flow``: the step title is plain text, the description is rendered
# markdown, ``ha-form`` text fields are textboxes named by their ``data`` label (with "*"
# when required), list-mode select selectors are radios (not DOM children of their
# radiogroup), booleans are switches without an accessible name, and errors (base and
# field errors alike) are ``ha-alert`` banners above the fields; the buttons are "Submit"
# and, on the success step, "Finish". The dialog element stays in the DOM after closing.
# Scope locators to these elements rather than to role "dialog": the ``<dialog>`` sits in
# ``ha-dialog``'s shadow root and the content is slotted into it, so it is no DOM ancestor
# of the fields.

INTEGRATIONS_DASHBOARD_PATH = "/config/integrations/dashboard"


def add_integration_dialog(page: Page) -> Locator:
    """Return the "Add integration" (brand search) dialog."""
    return page.locator("dialog-add-integration")


def brand_search_field(page: Page) -> Locator:
    """Return the search field of the "Add integration" dialog."""
    return add_integration_dialog(page).get_by_placeholder("Search for a brand name")


def flow_dialog(page: Page) -> Locator:
    """Return the dialog a config flow runs in."""
    return page.locator("dialog-data-entry-flow")


def search_integration(page: Page, hass: HassInstance, query: str) -> Locator:
    """Click Settings → Devices & services → Add integration, search; return the result."""
    page.locator("ha-sidebar").get_by_role("link", name=re.compile(r"\bSettings\b")).click()
    page.get_by_role("link", name=re.compile(r"^Devices & services")).click()
    expect(page).to_have_url(f"{hass.url}{INTEGRATIONS_DASHBOARD_PATH}")
    page.get_by_role("button", name="Add integration").click()
    brand_search_field(page).fill(query)
    return add_integration_dialog(page).get_by_role("button", name=query, exact=True)


def flow_title(page: Page, title: str) -> Locator:
    """Return the flow dialog's step title (exact text)."""
    return flow_dialog(page).get_by_text(title, exact=True)


def flow_field(page: Page, label: str) -> Locator:
    """Return the flow form's text field with this label (required or not)."""
    name = re.compile(rf"^{re.escape(label)}\*?$")
    return flow_dialog(page).get_by_role("textbox", name=name)


def flow_error(page: Page) -> Locator:
    """Return the flow form's error banner (base and field errors are both shown there)."""
    # The role="alert" div is in ha-alert's shadow root; the message is slotted into it.
    return flow_dialog(page).locator("ha-alert[alert-type=error]")


def flow_submit(page: Page) -> None:
    """Click the flow dialog's "Submit" button."""
    flow_dialog(page).get_by_role("button", name="Submit").click()


def close_flow(page: Page) -> None:
    """Close the flow dialog (which aborts an unfinished flow)."""
    flow_dialog(page).get_by_role("button", name="Close").click()


def wait_for_animations(page: Page) -> None:
    """Wait until every finite CSS animation and transition, in every shadow root, has ended.

    ``document.getAnimations()`` leaves out animations inside shadow roots, such as the
    150 ms transition that floats a form field's label up once it has a value (in
    ``wa-input``'s shadow root): each shadow root is asked separately, until none runs.
    """
    page.evaluate(
        """async () => {
            const running = () => {
                const roots = [document];
                for (let i = 0; i < roots.length; i++) {
                    for (const element of roots[i].querySelectorAll("*")) {
                        if (element.shadowRoot) roots.push(element.shadowRoot);
                    }
                }
                return roots
                    .flatMap((root) => root.getAnimations())
                    .filter((a) => a.effect?.getComputedTiming().endTime !== Infinity)
                    .filter((a) => a.playState === "running");
            };
            for (let pending = running(); pending.length; pending = running()) {
                await Promise.all(pending.map((a) => a.finished.catch(() => null)));
                await new Promise((done) => requestAnimationFrame(() => done(null)));
            }
        }"""
    )


def log_out(page: Page, hass: HassInstance) -> None:
    """Log out through the profile page and its confirmation dialog."""
    page.goto(f"{hass.url}/profile")
    page.get_by_role("button", name="Log out").click()
    page.locator("dialog-box").get_by_role("button", name="Log out").click()
