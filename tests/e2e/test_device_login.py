"""Cross-device login in a real browser: a companion app's web view, approved from a laptop.

Context A plays the companion app: it opens ``/auth/authorize`` with the app's client_id
and ``homeassistant://auth-callback`` and a Home Assistant app User-Agent. Chromium cannot
open ``homeassistant://``: it reports a navigation request for it and aborts it, and the
test takes the app's authorization code from that request, as the app would. Context B is
another browser that approves. The module runs its own provider (one signing key) and so
its own hass (see test_sso_login.py for why).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable, Generator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from . import ha_pages
from .conftest import (
    BROWSER_LOG,
    DEFAULT_TIMEOUT_MS,
    HassFactory,
)
from .hass_process import HassInstance
from .provider_process import ProviderProcess
from .support import ARTIFACTS_DIR, LOOPBACK

pytestmark = pytest.mark.e2e

DISPLAY_NAME = ha_pages.SSO_DISPLAY_NAME
APP_REDIRECT = "homeassistant://auth-callback"
APPS = {
    "ios": (
        "https://home-assistant.io/iOS",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 Home Assistant/2025.1 "
        "(io.robbie.HomeAssistant; build:2025.1.1; iOS 18.0.0)",
        "Home Assistant iOS app (iPhone)",
    ),
    "android": (
        "https://home-assistant.io/android",
        "Mozilla/5.0 (Linux; Android 15; Pixel 8 Build/AP3A.241005.015; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.58 Mobile Safari/537.36 "
        "Home Assistant/2025.1.1-15000 (Android 15; Pixel 8)",
        "Home Assistant Android app (Android)",
    ),
}
# Approval normally reaches the app by server-sent events at once; without script the
# waiting page reloads every 5 s.
APP_REDIRECT_TIMEOUT_MS = 15_000

type ContextFactory = Callable[..., BrowserContext]


# --------------------------------------------------------------------- fixtures


@pytest.fixture
def hass_behind_proxy(hass_factory: HassFactory, provider: ProviderProcess) -> HassInstance:
    """Return hass that believes X-Forwarded-For from loopback (a reverse proxy's view)."""
    return hass_factory(
        ha_pages.sso_config_yaml(provider.discovery_url),
        with_integration=True,
        use_x_forwarded_for=True,
        trusted_proxies=[LOOPBACK],
    )


@pytest.fixture
def new_context(request: pytest.FixtureRequest, browser: Browser) -> Generator[ContextFactory]:
    """Return a function opening a new browser context (no cookies), English, UTC."""
    contexts: list[BrowserContext] = []
    log = request.node.stash.setdefault(BROWSER_LOG, [])

    def factory(**options: Any) -> BrowserContext:
        context = browser.new_context(locale="en-US", timezone_id="UTC", **options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.on("console", lambda msg: log.append(f"[{msg.type}] {msg.text}"))
        context.on("weberror", lambda err: log.append(f"[pageerror] {err.error}"))
        contexts.append(context)
        return context

    try:
        yield factory
    finally:
        for context in contexts:
            context.close()


# ---------------------------------------------------------------------- helpers


def doc_screenshot(page: Page, name: str) -> None:
    """Save the page as .artifacts/e2e/<name>.png for the documentation."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / f"{name}.png", full_page=True)


def app_page(new_context: ContextFactory, app: str, *, javascript: bool = True) -> Page:
    """Open a page that looks like the companion app's web view (phone-sized)."""
    context = new_context(
        user_agent=APPS[app][1],
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        java_script_enabled=javascript,
    )
    return context.new_page()


def authorize_url(hass: HassInstance, app: str, state: str) -> str:
    """Return the authorize URL the companion app opens."""
    query = {
        "response_type": "code",
        "client_id": APPS[app][0],
        "redirect_uri": APP_REDIRECT,
        "state": state,
    }
    return f"{hass.url}/auth/authorize?{urllib.parse.urlencode(query)}"


def is_app_redirect(request: Request) -> bool:
    """Tell whether the browser tries to open the companion app's callback."""
    return request.url.startswith(APP_REDIRECT)


def app_callback_query(request: Request, state: str) -> dict[str, list[str]]:
    """Check the app's callback URL and return its query."""
    assert request.is_navigation_request()
    # The browser was redirected there by our waiting page (or callback), never by script.
    redirected_from = request.redirected_from
    assert redirected_from is not None
    assert urllib.parse.urlsplit(redirected_from.url).path in (
        "/auth/oidc/device/wait",
        "/auth/oidc/callback",
    )
    assert request.url.startswith(f"{APP_REDIRECT}?code=")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
    assert set(query) == {"code", "state"}
    assert query["state"] == [state]
    return query


def redeem_as_app(hass: HassInstance, app: str, code: str) -> dict[str, Any]:
    """Exchange the app's code at /auth/token; return auth/current_user for its token."""
    response = hass.request(
        "POST",
        "/auth/token",
        form={"grant_type": "authorization_code", "client_id": APPS[app][0], "code": code},
    )
    assert response.status == 200, response.text
    tokens = response.json()
    [current, refresh_tokens] = hass.ws_commands(
        [{"type": "auth/current_user"}, {"type": "auth/refresh_tokens"}],
        token=tokens["access_token"],
    )
    assert isinstance(current, dict)
    [this_token] = [token for token in refresh_tokens if token["is_current"]]
    current["client_id"] = this_token["client_id"]
    return current


def waiting_code(page: Page, hass: HassInstance) -> str:
    """Check the waiting part of the app's welcome page; return its code."""
    # The welcome page, or the waiting page it reloads as (without script).
    expect(page).to_have_url(
        re.compile(rf"^{re.escape(hass.url)}/auth/oidc/(welcome|device/wait)\?")
    )
    expect(ha_pages.welcome_heading(page)).to_be_visible()
    expect(page.get_by_role("heading", name="Log in here")).to_be_visible()
    expect(ha_pages.sso_button(page, DISPLAY_NAME)).to_be_focused()
    expect(page.get_by_role("heading", name="Log in on another device")).to_be_visible()
    expect(page.locator("#device-url")).to_have_text(f"{hass.url}/auth/oidc/device")
    expect(
        page.get_by_role("img", name="QR code that opens the approval page with the code filled in")
    ).to_be_visible()
    code = page.locator("#device-code").inner_text()
    assert re.fullmatch(r"[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}", code), code
    return code


def approve(
    laptop: Page,
    hass: HassInstance,
    code: str,
    device_name: str,
    *,
    screenshots: bool = False,
    other_network: bool = False,
) -> None:
    """In the other browser: open the QR code's URL, log in as alice, check and approve."""
    laptop.goto(f"{hass.url}/auth/oidc/device?code={code}")
    expect(laptop.get_by_role("heading", name="Approve a sign-in")).to_be_visible()
    code_field = laptop.get_by_label("Code", exact=True)
    expect(code_field).to_have_value(code)
    expect(code_field).to_be_focused()
    if screenshots:
        doc_screenshot(laptop, "device-2-enter-code")
    laptop.get_by_role("button", name=f"Continue with {DISPLAY_NAME}").click()
    ha_pages.provider_login(laptop, "alice", "alice-password")

    expect(laptop).to_have_url(re.compile(rf"^{re.escape(hass.url)}/auth/oidc/device/confirm\?"))
    expect(laptop.get_by_role("heading", name=f"Approve sign-in on {device_name}?")).to_be_visible()
    expect(laptop.locator("#confirm-device")).to_have_text(device_name)
    expect(laptop.locator("#confirm-started")).to_have_text(re.compile(r"^\d\d:\d\d \(just now\)$"))
    expect(laptop.locator("#confirm-network")).to_have_text("127.0.0.0/24 (local network)")
    expect(laptop.locator("#confirm-code")).to_have_text(code)
    expect(laptop.locator("#confirm-account")).to_have_text("Alice Admin (alice)")
    warning = laptop.locator("#confirm-other-network")
    if other_network:
        expect(warning).to_be_visible()
        expect(warning).to_contain_text("are on different networks")
    else:
        expect(warning).to_have_count(0)
    client_id = next(client_id for client_id, _, name in APPS.values() if name == device_name)
    expect(laptop.locator("#confirm-client")).to_have_text(client_id)
    expect(
        laptop.get_by_text(
            "Only approve if you started this sign-in yourself on that device just now"
        )
    ).to_be_visible()
    if screenshots:
        doc_screenshot(laptop, "device-3-confirm")
    laptop.get_by_label("I started this sign-in myself on that device just now.").check()
    laptop.get_by_role("button", name=f"Approve sign-in on {device_name}").click()
    expect(laptop.get_by_role("heading", name="Sign-in approved")).to_be_visible()


# ------------------------------------------------------------------------ tests


@pytest.mark.parametrize("app", ["ios", "android"])
def test_app_signs_in_after_approval_on_another_device(
    hass: HassInstance, provider: ProviderProcess, new_context: ContextFactory, app: str
) -> None:
    """The app's web view shows a code; a laptop approves; the app gets its code."""
    _, _, device_name = APPS[app]
    state = f"e2e-{app}-state-1234"
    phone = app_page(new_context, app)
    laptop = new_context(viewport={"width": 1280, "height": 800}).new_page()
    laptop_requests: list[str] = []
    laptop.on("request", lambda request: laptop_requests.append(request.url))

    began = time.monotonic()
    phone.goto(authorize_url(hass, app, state))
    code = waiting_code(phone, hass)
    expect(phone.get_by_role("status")).to_have_text("Waiting for approval…")
    if app == "ios":
        doc_screenshot(phone, "device-1-app-welcome")
    shown = time.monotonic()

    with phone.expect_request(is_app_redirect, timeout=APP_REDIRECT_TIMEOUT_MS) as app_request:
        approve(laptop, hass, code, device_name, screenshots=app == "ios")
        # The app's page follows by server-sent events: "entered" shows while approving.
        approved = time.monotonic()
    handed_off = time.monotonic()
    query = app_callback_query(app_request.value, state)
    if app == "ios":
        doc_screenshot(laptop, "device-4-approved")

    current = redeem_as_app(hass, app, query["code"][0])
    assert current["name"] == "Alice Admin"
    assert current["is_admin"] is True
    assert current["client_id"] == APPS[app][0]
    assert current["credentials"] == [
        {"auth_provider_type": "auth_oidc", "auth_provider_id": provider.issuer}
    ]
    # The approving browser never saw the app's callback.
    assert not [url for url in laptop_requests if url.startswith(APP_REDIRECT)]
    print(
        f"\n{app}: code shown {shown - began:.1f} s, approved after "
        f"{approved - shown:.1f} s, app redirect {handed_off - approved:.2f} s later"
    )


def test_app_without_script_follows_by_reloading(
    hass: HassInstance, provider: ProviderProcess, new_context: ContextFactory
) -> None:
    """Without JavaScript the waiting page's meta refresh still gets the app its code."""
    state = "e2e-noscript-state-1234"
    phone = app_page(new_context, "ios", javascript=False)
    laptop = new_context().new_page()
    phone.goto(authorize_url(hass, "ios", state))
    code = waiting_code(phone, hass)
    # The <noscript> meta refresh reloads the waiting page (same code) until approval.
    with phone.expect_navigation(url=re.compile(r"/auth/oidc/device/wait\?login=")):
        pass
    assert waiting_code(phone, hass) == code

    began = time.monotonic()
    with phone.expect_request(is_app_redirect, timeout=APP_REDIRECT_TIMEOUT_MS) as app_request:
        approve(laptop, hass, code, APPS["ios"][2])
    print(f"\nno script: app redirect {time.monotonic() - began:.1f} s after approving started")
    query = app_callback_query(app_request.value, state)
    assert redeem_as_app(hass, "ios", query["code"][0])["name"] == "Alice Admin"


def test_deny_tells_the_app(
    hass: HassInstance, provider: ProviderProcess, new_context: ContextFactory
) -> None:
    """Denying ends the waiting page with a clear message and a way to start again."""
    phone = app_page(new_context, "android")
    laptop = new_context().new_page()
    phone.goto(authorize_url(hass, "android", "e2e-deny-state-1234"))
    code = waiting_code(phone, hass)
    laptop.goto(f"{hass.url}/auth/oidc/device")
    laptop.get_by_label("Code", exact=True).fill(code.lower().replace("-", ""))
    laptop.get_by_role("button", name=f"Continue with {DISPLAY_NAME}").click()
    ha_pages.provider_login(laptop, "bob", "bob-password")
    expect(laptop.locator("#confirm-account")).to_have_text("Bob User (bob)")
    expect(phone.get_by_role("status")).to_have_text(
        re.compile("The code was entered on another device")
    )
    laptop.get_by_role("button", name="Deny").click()
    expect(laptop.get_by_role("heading", name="Sign-in denied")).to_be_visible()

    expect(ha_pages.error_heading(phone)).to_be_visible()
    expect(phone.get_by_role("alert")).to_have_text("The sign-in was denied on the other device.")
    phone.get_by_role("link", name="Try again").click()
    assert waiting_code(phone, hass) != code


def test_try_here_with_the_password_provider(
    hass: HassInstance, provider: ProviderProcess, new_context: ContextFactory
) -> None:
    """The normal button in the app's web view logs in at the provider and hands off."""
    state = "e2e-try-here-state-1234"
    phone = app_page(new_context, "ios")
    phone.goto(authorize_url(hass, "ios", state))
    waiting_code(phone, hass)
    ha_pages.sso_button(phone, DISPLAY_NAME).click()
    with phone.expect_request(is_app_redirect, timeout=APP_REDIRECT_TIMEOUT_MS) as app_request:
        ha_pages.provider_login(phone, "alice", "alice-password")
    query = app_callback_query(app_request.value, state)
    current = redeem_as_app(hass, "ios", query["code"][0])
    assert current["name"] == "Alice Admin"
    assert current["client_id"] == APPS["ios"][0]


def test_password_login_in_the_app_still_works(
    hass: HassInstance, provider: ProviderProcess, new_context: ContextFactory
) -> None:
    """ "Use another login method" in the app: HA's own form registers the app as usual."""
    state = "e2e-password-state-1234"
    phone = app_page(new_context, "android")
    phone.goto(authorize_url(hass, "android", state))
    waiting_code(phone, hass)
    ha_pages.other_login_method_link(phone).click()
    expect(phone).to_have_url(ha_pages.authorize_url_pattern(hass))
    expect(ha_pages.username_field(phone)).to_be_visible()
    # HA's form offers "Keep me logged in" only to its own frontend.
    ha_pages.username_field(phone).fill(hass.owner_username)
    ha_pages.password_field(phone).fill(hass.owner_password)
    with phone.expect_request(is_app_redirect, timeout=APP_REDIRECT_TIMEOUT_MS) as app_request:
        ha_pages.login_button(phone).click()
    assert app_request.value.url.startswith(f"{APP_REDIRECT}?code=")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(app_request.value.url).query)
    assert query["state"] == [state]
    current = redeem_as_app(hass, "android", query["code"][0])
    assert current["is_owner"] is True
    assert current["client_id"] == APPS["android"][0]
    assert [c["auth_provider_type"] for c in current["credentials"]] == ["homeassistant"]


def test_remote_device_is_not_offered_and_a_remote_approval_is_flagged(
    hass_behind_proxy: HassInstance, provider: ProviderProcess, new_context: ContextFactory
) -> None:
    """By default a remote device gets no code; a remote approver is warned; approvals show."""
    hass = hass_behind_proxy
    # The companion app (or an attacker with its client_id) on another network gets no code.
    remote = new_context(
        user_agent=APPS["ios"][1], extra_http_headers={"X-Forwarded-For": "203.0.113.5"}
    ).new_page()
    remote.goto(authorize_url(hass, "ios", "e2e-remote-state-1234"))
    expect(ha_pages.sso_button(remote, DISPLAY_NAME)).to_be_visible()
    expect(remote.locator("#device-notice")).to_have_text(
        re.compile("^Logging in on another device is only available on your home network")
    )
    expect(remote.locator("#device-code")).to_have_count(0)
    expect(remote.get_by_role("img")).to_have_count(0)
    # Neither is the link offered to other clients there, nor does asking for it help.
    frontend = {
        "response_type": "code",
        "client_id": f"{hass.url}/",
        "redirect_uri": f"{hass.url}/?auth_callback=1",
        "state": "e2e-remote-web-1234",
    }
    remote.goto(f"{hass.url}/auth/oidc/welcome?{urllib.parse.urlencode(frontend)}")
    expect(ha_pages.sso_button(remote, DISPLAY_NAME)).to_be_visible()
    expect(remote.get_by_role("link", name="Log in on another device")).to_have_count(0)
    query = urllib.parse.urlencode({**frontend, "device_login": "true"})
    refused = remote.goto(f"{hass.url}/auth/oidc/welcome?{query}")
    assert refused is not None
    assert refused.status == 403
    expect(remote.locator("#device-notice")).to_be_visible()
    expect(remote.locator("#device-code")).to_have_count(0)

    # On the local network the app gets its code; a browser elsewhere approving it is warned.
    state = "e2e-local-state-1234"
    phone = app_page(new_context, "ios")
    phone.goto(authorize_url(hass, "ios", state))
    code = waiting_code(phone, hass)
    laptop = new_context(extra_http_headers={"X-Forwarded-For": "198.51.100.23"}).new_page()
    with phone.expect_request(is_app_redirect, timeout=APP_REDIRECT_TIMEOUT_MS) as app_request:
        approve(laptop, hass, code, APPS["ios"][2], other_network=True)
    query_of_app = app_callback_query(app_request.value, state)
    assert redeem_as_app(hass, "ios", query_of_app["code"][0])["name"] == "Alice Admin"

    # The approval left a persistent notification for the owner to see.
    notifications = hass.ws_command("persistent_notification/get")
    [notice] = [n for n in notifications if n["title"] == "Sign-in approved on another device"]
    for shown in (
        "Alice Admin",
        "Home Assistant iOS app (iPhone)",
        "127.0.0.0/24",
        "198.51.100.0/24",
    ):
        assert shown in notice["message"], notice
    assert code not in notice["message"]
