"""Single sign-on against Glewlwyd 2.7.5, an OpenID Provider nobody here wrote (Debian's package).

One Glewlwyd runs for the whole module (``glewlwyd_process``); its JWKS holds an RS256, an
ES256 and an Ed25519 key from the start, and switching the signing algorithm only changes
which key signs. So one hass configured with the public client serves every test but the
confidential client's, which needs its own configuration (and therefore runs last).

Glewlwyd's login app is its own web page: "Login" and "Password", "OK", then a page
greeting the user with a "Continue" button back to the client (consent was granted ahead).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Generator
from typing import Any

import pytest
from playwright.sync_api import Page, Response, expect

from . import ha_pages
from .conftest import USED_PROVIDERS, HassFactory, PortRegistry, enable_loopback_sockets
from .glewlwyd_process import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    SIGNING_ALGS,
    GlewlwydProcess,
    check_installed,
)
from .hass_process import HassInstance
from .support import LOOPBACK

DISPLAY_NAME = "Glewlwyd"
pytestmark = [pytest.mark.e2e, pytest.mark.sso_provider("glewlwyd", display_name=DISPLAY_NAME)]
CALLBACK_URL = re.compile(r"/auth/oidc/callback\?")


# --------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def _module_glewlwyd(
    tmp_path_factory: pytest.TempPathFactory, e2e_ports: PortRegistry
) -> Generator[GlewlwydProcess]:
    """Run one Glewlwyd for the whole module, redirecting to the default hass port."""
    enable_loopback_sockets()
    check_installed()
    glewlwyd = GlewlwydProcess(
        tmp_path_factory.mktemp("glewlwyd"),
        hass_url=f"http://{LOOPBACK}:{e2e_ports('hass')}",
        port=e2e_ports("glewlwyd"),
    )
    glewlwyd.start()
    try:
        yield glewlwyd
    finally:
        glewlwyd.stop()


@pytest.fixture
def glewlwyd(request: pytest.FixtureRequest, _module_glewlwyd: GlewlwydProcess) -> GlewlwydProcess:
    """Return the module's Glewlwyd signing with RS256 (its log tail joins failure reports)."""
    request.node.stash.setdefault(USED_PROVIDERS, []).append(_module_glewlwyd)
    _module_glewlwyd.use_signing_alg("RS256")
    return _module_glewlwyd


# ---------------------------------------------------------------------- helpers


def glewlwyd_sign_in(page: Page, glewlwyd: GlewlwydProcess, username: str) -> Response:
    """Sign in on Glewlwyd's login app and continue; return the response of our callback."""
    expect(page).to_have_url(re.compile(rf"^{re.escape(glewlwyd.url)}/login\.html\?"))
    page.get_by_label("Login", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(glewlwyd.user(username)["password"])
    page.get_by_role("button", name="OK").click()
    with page.expect_response(CALLBACK_URL) as callback:
        page.get_by_role("button", name="Continue").click()
    return callback.value


def sso_login(page: Page, hass: HassInstance, glewlwyd: GlewlwydProcess, username: str) -> Response:
    """Log in from hass.url through the welcome page and Glewlwyd; return the callback response."""
    ha_pages.start_sso_login(page, hass, DISPLAY_NAME)
    return glewlwyd_sign_in(page, glewlwyd, username)


def browser_user(hass: HassInstance, page: Page) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return auth/current_user for the browser's token and the user's config/auth/list row."""
    token = ha_pages.browser_auth_data(page)["access_token"]
    [current] = hass.ws_commands([{"type": "auth/current_user"}], token=token)
    [listed] = [user for user in hass.list_users() if user["id"] == current["id"]]
    return current, listed


def jwt_part(token: str, index: int) -> dict[str, Any]:
    """Return the decoded header (0) or payload (1) of a compact JWS, unverified."""
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


# ------------------------------------------------------------------------ tests


def test_glewlwyd_differs_from_the_pocket_id_like_provider(glewlwyd: GlewlwydProcess) -> None:
    """Pin the Glewlwyd facts the integration has to cope with (they explain the tests below)."""
    discovery = glewlwyd.discovery()
    assert discovery["issuer"] == f"{glewlwyd.url}/api/oidc"
    # A public client works although "none" is not advertised (the integration sends none).
    assert "none" not in discovery["token_endpoint_auth_methods_supported"]
    assert "end_session_endpoint" not in discovery
    assert "authorization_response_iss_parameter_supported" not in discovery
    assert {"RS256", "ES256", "EdDSA"} <= set(discovery["id_token_signing_alg_values_supported"])

    alice = jwt_part(glewlwyd.issue_tokens("alice")["id_token"], 1)
    assert alice["aud"] == "home-assistant"  # a string, not a list
    assert alice["preferred_username"] == "alice"
    assert alice["sub"] != "alice"
    assert alice["groups"] == ["admins", "users"]
    # A user without groups gets no groups claim at all (not []), and an empty email.
    carol = jwt_part(glewlwyd.issue_tokens("carol")["id_token"], 1)
    assert "groups" not in carol
    assert carol["email"] == ""


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_admin_logs_in(alg: str, glewlwyd: GlewlwydProcess, hass: HassInstance, page: Page) -> None:
    """Alice (groups admins, users) logs in as an administrator whichever key signs."""
    glewlwyd.use_signing_alg(alg)
    header = jwt_part(glewlwyd.issue_tokens("alice")["id_token"], 0)
    assert header["alg"] == alg
    assert header["kid"] == glewlwyd.keys[alg]["kid"]

    callback = sso_login(page, hass, glewlwyd, "alice")

    assert callback.status == 302
    assert callback.headers["location"].startswith(f"{hass.redirect_uri}&code=")
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")
    expect(page.locator("ha-sidebar").get_by_text("Settings", exact=True)).to_be_visible()
    current, listed = browser_user(hass, page)
    assert current["is_admin"] is True
    assert current["credentials"] == [
        {"auth_provider_type": "auth_oidc", "auth_provider_id": glewlwyd.issuer}
    ]
    assert listed["group_ids"] == ["system-admin"]


def test_plain_user_logs_in_without_admin_rights(
    glewlwyd: GlewlwydProcess, hass: HassInstance, page: Page
) -> None:
    """Bob (group users) reaches the dashboard as a non-admin user."""
    callback = sso_login(page, hass, glewlwyd, "bob")

    assert callback.status == 302
    ha_pages.expect_dashboard(page, hass, user_name="Bob User")
    expect(page.locator("ha-sidebar").get_by_text("Settings", exact=True)).to_have_count(0)
    current, listed = browser_user(hass, page)
    assert current["is_admin"] is False
    assert listed["group_ids"] == ["system-users"]


def test_user_without_groups_is_refused(
    glewlwyd: GlewlwydProcess, hass: HassInstance, page: Page
) -> None:
    """Carol (no groups claim at all) is refused with a clear page and gets no hass user."""
    users_before = {user["id"] for user in hass.list_users()}

    callback = sso_login(page, hass, glewlwyd, "carol")

    assert callback.status == 403
    expect(ha_pages.error_heading(page)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(
        "Your account is not in a group that may use Home Assistant."
    )
    expect(ha_pages.other_login_method_link(page)).to_be_visible()
    assert {user["id"] for user in hass.list_users()} == users_before


def test_backup_password_login_still_works(hass: HassInstance, page: Page) -> None:
    """With Glewlwyd configured, the welcome page still leads to HA's own login for the owner."""
    page.goto(f"{hass.url}/")
    expect(ha_pages.sso_button(page, DISPLAY_NAME)).to_be_visible()

    ha_pages.other_login_method_link(page).click()
    expect(page).to_have_url(ha_pages.authorize_url_pattern(hass))
    ha_pages.password_login(page, hass.owner_username, hass.owner_password)

    ha_pages.expect_dashboard(page, hass, user_name=hass.owner_name)
    current, _ = browser_user(hass, page)
    assert current["is_owner"] is True
    assert [c["auth_provider_type"] for c in current["credentials"]] == ["homeassistant"]


def test_confidential_client(
    glewlwyd: GlewlwydProcess, hass_factory: HassFactory, page: Page
) -> None:
    """The confidential client (client_secret_basic) logs alice in."""
    hass = hass_factory(
        ha_pages.sso_config_yaml(
            glewlwyd.discovery_url,
            client_id=CONFIDENTIAL_CLIENT_ID,
            client_secret=CONFIDENTIAL_CLIENT_SECRET,
            display_name=DISPLAY_NAME,
        ),
        with_integration=True,
    )

    callback = sso_login(page, hass, glewlwyd, "alice")

    assert callback.status == 302
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")
    current, _ = browser_user(hass, page)
    assert current["is_admin"] is True
