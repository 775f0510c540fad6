"""Single sign-on in a real browser: welcome page → test OpenID Provider → dashboard.

All tests share one hass (same YAML) and one provider process for the module: a restarted
provider signs with a new key, and the integration refetches the provider's JWKS for an
unknown ``kid`` at most once a minute (``oidc/jwks.py``), so a shared hass would refuse
the next test's ID tokens.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from typing import Any

import pytest
from playwright.sync_api import Page, Response, expect

from . import ha_pages
from .conftest import (
    PageFactory,
)
from .hass_process import HassInstance
from .provider_process import ProviderProcess
from .support import ARTIFACTS_DIR

pytestmark = pytest.mark.e2e

DISPLAY_NAME = ha_pages.SSO_DISPLAY_NAME
CALLBACK_URL = re.compile(r"/auth/oidc/callback\?")
# Main-frame document requests (redirect hops included) from hass.url to the dashboard.
MAX_NAVIGATION_REQUESTS = 10


# --------------------------------------------------------------------- fixtures


# ---------------------------------------------------------------------- helpers


def doc_screenshot(page: Page, name: str) -> None:
    """Save the page as .artifacts/e2e/<name>.png for the documentation."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / f"{name}.png")


def sign_in_at_provider(page: Page, username: str, password: str) -> Response:
    """Sign in on the provider's page; return the response of our callback."""
    with page.expect_response(CALLBACK_URL) as callback:
        ha_pages.provider_login(page, username, password)
    return callback.value


def sso_login(page: Page, hass: HassInstance, username: str, password: str) -> Response:
    """Log in from hass.url through the welcome page; return the callback response."""
    ha_pages.start_sso_login(page, hass, DISPLAY_NAME)
    return sign_in_at_provider(page, username, password)


def browser_user(hass: HassInstance, page: Page) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return auth/current_user for the browser's token and the user's config/auth/list row."""
    token = ha_pages.browser_auth_data(page)["access_token"]
    [current] = hass.ws_commands([{"type": "auth/current_user"}], token=token)
    [listed] = [user for user in hass.list_users() if user["id"] == current["id"]]
    return current, listed


def users_named(hass: HassInstance, name: str) -> list[dict[str, Any]]:
    """Return the hass users with this display name."""
    return [user for user in hass.list_users() if user["name"] == name]


def redirect_query(response: Response) -> dict[str, list[str]]:
    """Return the query of a redirect response's Location."""
    return urllib.parse.parse_qs(urllib.parse.urlsplit(response.headers["location"]).query)


# ------------------------------------------------------------------------ tests


def test_admin_logs_in_with_sso(hass: HassInstance, provider: ProviderProcess, page: Page) -> None:
    """Alice (group admins) goes welcome page → provider → dashboard as an administrator."""
    page.goto(f"{hass.url}/")

    # The frontend's login redirect is intercepted: our welcome page, accessible by role.
    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))
    expect(ha_pages.welcome_heading(page)).to_be_visible()
    expect(ha_pages.sso_button(page, DISPLAY_NAME)).to_be_visible()
    expect(ha_pages.sso_button(page, DISPLAY_NAME)).to_be_focused()
    expect(ha_pages.keep_logged_in_checkbox(page)).to_be_checked()  # 127.0.0.1 is local
    expect(ha_pages.other_login_method_link(page)).to_be_visible()
    doc_screenshot(page, "sso-1-welcome")

    ha_pages.sso_button(page, DISPLAY_NAME).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(provider.issuer)}/interaction/"))
    page.get_by_label("Username", exact=True).fill("alice")
    page.get_by_label("Password", exact=True).fill("alice-password")
    doc_screenshot(page, "sso-2-provider-login")
    callback = sign_in_at_provider(page, "alice", "alice-password")

    # Our callback hands an authorization code to the frontend, asking it to keep tokens.
    assert callback.status == 302
    assert callback.headers["location"].startswith(f"{hass.redirect_uri}&code=")
    assert redirect_query(callback)["storeToken"] == ["true"]

    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")
    expect(page.locator("ha-sidebar").get_by_text("Settings", exact=True)).to_be_visible()
    doc_screenshot(page, "sso-3-dashboard")

    tokens = ha_pages.stored_tokens(page)
    assert tokens is not None, "the frontend did not store hassTokens"
    assert tokens["hassUrl"] == hass.url
    assert tokens["clientId"] == hass.client_id
    assert tokens["ha_auth_provider"] == "auth_oidc"
    assert tokens["refresh_token"]

    [current] = hass.ws_commands([{"type": "auth/current_user"}], token=tokens["access_token"])
    assert current["name"] == "Alice Admin"
    assert current["is_admin"] is True
    assert current["is_owner"] is False
    assert current["credentials"] == [
        {"auth_provider_type": "auth_oidc", "auth_provider_id": provider.issuer}
    ]
    [listed] = users_named(hass, "Alice Admin")
    assert listed["id"] == current["id"]
    assert listed["group_ids"] == ["system-admin"]
    assert listed["credentials"] == [{"type": "auth_oidc"}]
    assert listed["is_active"] is True
    assert listed["system_generated"] is False

    # automatic_person_creation (default on) made one person for the new user.
    people = hass.ws_command("person/list")["storage"]
    assert [p["name"] for p in people if p["user_id"] == current["id"]] == ["Alice Admin"]


def test_plain_user_logs_in_without_admin_rights(hass: HassInstance, page: Page) -> None:
    """Bob (group users only) reaches the dashboard as a non-admin user."""
    callback = sso_login(page, hass, "bob", "bob-password")
    assert callback.status == 302

    ha_pages.expect_dashboard(page, hass, user_name="Bob User")
    # Non-admins have no Settings entry in the sidebar.
    expect(page.locator("ha-sidebar").get_by_text("Settings", exact=True)).to_have_count(0)

    current, listed = browser_user(hass, page)
    assert current["name"] == "Bob User"
    assert current["is_admin"] is False
    assert listed["group_ids"] == ["system-users"]
    assert listed["credentials"] == [{"type": "auth_oidc"}]


def expect_in_log(hass: HassInstance, text: str, timeout: float = 10.0) -> None:
    """Wait until Home Assistant's log holds `text` (records reach the file asynchronously)."""
    deadline = time.monotonic() + timeout
    while text not in hass.log_text():
        assert time.monotonic() < deadline, f"not in the log: {text}\n{hass.log_tail(40)}"
        time.sleep(0.1)


def test_user_outside_allowed_groups_is_refused(hass: HassInstance, page: Page) -> None:
    """Carol (no groups) gets a page saying why, no hass user, and a way to log in otherwise."""
    users_before = {user["id"] for user in hass.list_users()}

    callback = sso_login(page, hass, "carol", "carol-password")

    assert callback.status == 403
    expect(ha_pages.error_heading(page)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(
        "Your account is not in a group that may use Home Assistant."
    )
    expect(ha_pages.other_login_method_link(page)).to_be_visible()
    doc_screenshot(page, "sso-4-not-allowed")

    assert {user["id"] for user in hass.list_users()} == users_before
    assert users_named(hass, "Carol Outsider") == []
    # Counted as a failed login; Home Assistant's warning names the callback without its query.
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(callback.url).query)["code"][0]
    expect_in_log(hass, "Requested URL: '/auth/oidc/callback'")
    assert code not in hass.log_text()

    # The way out leads to Home Assistant's own login form for the same client.
    ha_pages.other_login_method_link(page).click()
    expect(page).to_have_url(ha_pages.authorize_url_pattern(hass))
    assert "skip_oidc_redirect=true" in page.url
    expect(ha_pages.username_field(page)).to_be_visible()


def test_backup_password_login_still_works(hass: HassInstance, page: Page) -> None:
    """The welcome page's other login method leads to HA's form and the owner's dashboard."""
    page.goto(f"{hass.url}/")
    expect(ha_pages.welcome_heading(page)).to_be_visible()

    ha_pages.other_login_method_link(page).click()

    expect(page).to_have_url(ha_pages.authorize_url_pattern(hass))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["skip_oidc_redirect"] == ["true"]
    assert query["client_id"] == [hass.client_id]
    assert query["redirect_uri"] == [hass.redirect_uri]
    expect(ha_pages.username_field(page)).to_be_visible()
    doc_screenshot(page, "sso-5-other-login-method")

    ha_pages.password_login(page, hass.owner_username, hass.owner_password)

    ha_pages.expect_dashboard(page, hass, user_name=hass.owner_name)
    tokens = ha_pages.stored_tokens(page)
    assert tokens is not None
    [current] = hass.ws_commands([{"type": "auth/current_user"}], token=tokens["access_token"])
    assert current["is_owner"] is True
    assert [c["auth_provider_type"] for c in current["credentials"]] == ["homeassistant"]


def test_sso_choice_on_home_assistant_login_page_is_no_dead_end(
    hass: HassInstance, provider: ProviderProcess, page: Page
) -> None:
    """HA's own login page must not offer a "Pocket ID" choice that only aborts."""
    page.goto(f"{hass.url}/")
    ha_pages.other_login_method_link(page).click()
    expect(ha_pages.username_field(page)).to_be_visible()

    # HA's form lists every auth provider under "Or log in with", ours included.
    choice = page.locator("ha-authorize").get_by_text(DISPLAY_NAME, exact=True)
    if choice.count() == 0:
        return  # not offered: nothing to fall into
    choice.click()

    # Choosing it must lead to single sign-on (welcome page or the provider's sign-in),
    # not to HA's "Login aborted:" with an empty reason (handler auth_oidc, use_login_page).
    sso_page = ha_pages.welcome_heading(page).or_(page.get_by_role("button", name="Sign in"))
    expect(sso_page).to_be_visible(timeout=5_000)


def test_second_login_reuses_the_same_user(
    hass: HassInstance, provider: ProviderProcess, new_page: PageFactory
) -> None:
    """Logging in again from a new browser finds the same hass user, no duplicate."""
    first = new_page()
    sso_login(first, hass, "alice", "alice-password")
    ha_pages.expect_dashboard(first, hass, user_name="Alice Admin")
    first_user, _ = browser_user(hass, first)
    first.context.close()

    second = new_page()
    sso_login(second, hass, "alice", "alice-password")
    ha_pages.expect_dashboard(second, hass, user_name="Alice Admin")
    second_user, listed = browser_user(hass, second)

    assert second_user["id"] == first_user["id"]
    assert [user["id"] for user in users_named(hass, "Alice Admin")] == [first_user["id"]]
    assert listed["credentials"] == [{"type": "auth_oidc"}]
    people = hass.ws_command("person/list")["storage"]
    assert len([p for p in people if p["user_id"] == first_user["id"]]) == 1


def test_role_change_at_provider_applies_at_next_login(
    hass: HassInstance, provider: ProviderProcess, new_page: PageFactory
) -> None:
    """Bob becomes admin after joining "admins" at the provider, and user again after leaving."""

    def log_in_bob() -> tuple[dict[str, Any], dict[str, Any]]:
        page = new_page()
        sso_login(page, hass, "bob", "bob-password")
        ha_pages.expect_dashboard(page, hass, user_name="Bob User")
        users = browser_user(hass, page)
        page.context.close()
        return users

    try:
        provider.set_user_groups("bob", ["users"])
        before, listed = log_in_bob()
        assert before["is_admin"] is False
        assert listed["group_ids"] == ["system-users"]

        provider.set_user_groups("bob", ["admins", "users"])
        promoted, listed = log_in_bob()
        assert promoted["id"] == before["id"]
        assert promoted["is_admin"] is True
        assert listed["group_ids"] == ["system-admin"]

        provider.set_user_groups("bob", ["users"])
        demoted, listed = log_in_bob()
        assert demoted["id"] == before["id"]
        assert demoted["is_admin"] is False
        assert listed["group_ids"] == ["system-users"]
    finally:
        provider.set_user_groups("bob", ["users"])


def test_navigation_count_to_dashboard(hass: HassInstance, page: Page) -> None:
    """Count the main-frame document requests from hass.url to the dashboard."""
    navigation = ha_pages.NavigationLog(page)
    sso_login(page, hass, "alice", "alice-password")
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")
    navigation.stop()

    print(f"\nnavigation requests (redirect hops included): {len(navigation.requests)}")
    for line in navigation.requests:
        print(f"  {line[:140]}")
    print(f"main-frame URL changes (loads and history API): {len(navigation.committed)}")
    paths = [urllib.parse.urlsplit(line.split(" ", 1)[1]).path for line in navigation.requests]
    # hass.url, the frontend's login redirect (answered by ours), the welcome page, the
    # provider's pages, our callback and the frontend with the code.
    assert paths[0] == "/"
    assert paths[1:3] == ["/auth/authorize", "/auth/oidc/welcome"]
    assert "/auth/oidc/callback" in paths
    assert paths[-1] == "/"
    assert len(navigation.requests) <= MAX_NAVIGATION_REQUESTS, navigation.requests


def test_unticked_keep_me_logged_in_keeps_tokens_in_memory_only(
    hass: HassInstance, page: Page
) -> None:
    """Without "Keep me logged in" the frontend logs in but stores no hassTokens."""
    page.goto(f"{hass.url}/")
    expect(ha_pages.welcome_heading(page)).to_be_visible()
    ha_pages.keep_logged_in_checkbox(page).uncheck()
    ha_pages.sso_button(page, DISPLAY_NAME).click()
    callback = sign_in_at_provider(page, "alice", "alice-password")

    assert callback.status == 302
    assert "storeToken" not in redirect_query(callback)
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")

    # The frontend keeps its tokens in memory only (it stores them only for storeToken=true).
    assert ha_pages.stored_tokens(page) is None
    current, _ = browser_user(hass, page)
    assert current["name"] == "Alice Admin"

    # So a reload starts a new login: back on the welcome page.
    page.reload()
    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))
    expect(ha_pages.welcome_heading(page)).to_be_visible()
