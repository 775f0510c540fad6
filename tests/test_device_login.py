"""Cross-device login: a companion app shows a code, another browser approves it."""

import asyncio
import base64
import hashlib
import html
import logging
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie
from ipaddress import ip_address
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qs, urlencode, urlsplit

import pyqrcode
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.components import persistent_notification
from homeassistant.components.http.ban import KEY_FAILED_LOGIN_ATTEMPTS
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from homeassistant.util.network import is_local
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.auth_oidc.const import DEVICE_APPROVED_EVENT, DOMAIN
from custom_components.auth_oidc.device_login import (
    CODE_ALPHABET,
    CREATIONS_PER_SOURCE,
    MAX_CLAIMS,
    STREAMS_PER_LOGIN,
    AttemptLimiter,
    DeviceDescription,
    DeviceLogin,
    DeviceLoginStore,
    EntryOutcome,
    MaskedNetwork,
    describe_device,
    format_code,
    masked_network,
    new_code,
    normalize_code,
)
from custom_components.auth_oidc.login_clients import ClientRequest
from custom_components.auth_oidc.login_state import source_key
from custom_components.auth_oidc.pages import qr_svg
from custom_components.auth_oidc.runtime import DATA_DOMAIN
from tests.fake_clock import FakeClock
from tests.fake_provider import FakeProvider
from tests.login_driver import set_up_integration, spy_auth_codes

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
LAPTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
WEB_CLIENT_ID = "https://ha.example.com/"
WEB_REDIRECT = "https://ha.example.com/?auth_callback=1"
WEB_QUERY = {
    "response_type": "code",
    "client_id": WEB_CLIENT_ID,
    "redirect_uri": WEB_REDIRECT,
    "state": "web-state",
}
CODE_PATTERN = re.compile(r'id="device-code"[^>]*>([A-Z0-9]{4}-[A-Z0-9]{4})<')
APPROVER_IP = "198.51.100.23"
APPROVAL_URL = "https://ha.example.com/auth/oidc/device"

pytestmark = [pytest.mark.usefixtures("onboarded"), pytest.mark.fake_provider(alg="RS256")]


@dataclass
class Waiting:
    """The waiting page of one cross-device login, as a companion app sees it."""

    client: TestClient[Any, Any]
    code: str
    wait_url: str
    events_url: str
    page: str
    response: ClientResponse

    @property
    def login_id(self) -> str:
        return parse_qs(urlsplit(self.events_url).query)["login"][0]


@pytest.fixture
def issued_codes(hass: HomeAssistant) -> list[tuple[str, str]]:
    """Return the list that set_up fills with every code stored in HA's code store."""
    return []


async def set_up(
    hass: HomeAssistant,
    provider: FakeProvider,
    issued: list[tuple[str, str]] | None = None,
    *,
    frontend: bool = False,
    **options: Any,
) -> None:
    """Set up the integration (a public client), believing X-Forwarded-For from the test client."""
    await set_up_integration(
        hass,
        provider,
        http={"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]},
        frontend=frontend,
        client_secret=None,
        **options,
    )
    if issued is not None:
        spy_auth_codes(hass, issued)


def app_query(app: str = "ios", state: str = "app-state-1234") -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": APPS[app][0],
        "redirect_uri": APP_REDIRECT,
        "state": state,
    }


def entry_id(hass: HomeAssistant) -> str:
    return hass.config_entries.async_entries(DOMAIN)[0].entry_id


def link(page: str, text: str) -> str:
    """Return the (unescaped) href of the link or button-link with this text."""
    match = re.search(rf'href="([^"]*)"[^>]*>{re.escape(text)}<', page)
    assert match, text
    return html.unescape(match.group(1))


def attribute(page: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', page)
    assert match, name
    return html.unescape(match.group(1))


async def open_waiting_page(
    client: TestClient[Any, Any],
    app: str = "ios",
    query: dict[str, str] | None = None,
    user_agent: str | None = None,
) -> Waiting:
    """Open the welcome page as the app's web view would; return its code and URLs."""
    response = await client.get(
        "/auth/oidc/welcome",
        params=query or app_query(app),
        headers={"User-Agent": user_agent or APPS[app][1]},
    )
    page = await response.text()
    assert response.status == 200, page
    match = CODE_PATTERN.search(page)
    assert match, page
    return Waiting(
        client=client,
        code=match.group(1),
        wait_url=attribute(page, "data-wait-url"),
        events_url=attribute(page, "data-events-url"),
        page=page,
        response=response,
    )


async def enter_code(
    hass: HomeAssistant, approver: TestClient[Any, Any], code: str, ip: str = APPROVER_IP
) -> ClientResponse:
    return await approver.post(
        "/auth/oidc/device",
        data={"code": code, "entry_id": entry_id(hass)},
        headers={"X-Forwarded-For": ip, "User-Agent": LAPTOP_UA},
        allow_redirects=False,
    )


async def approver_login(
    hass: HomeAssistant,
    approver: TestClient[Any, Any],
    provider: FakeProvider,
    code: str,
    ip: str = APPROVER_IP,
) -> ClientResponse:
    """Enter the code, log in at the provider; return the callback's response."""
    started = await enter_code(hass, approver, code, ip)
    assert started.status == 302, await started.text()
    callback_query = await provider.authorize(started.headers["Location"])
    return await approver.get(
        "/auth/oidc/callback?" + urlencode(callback_query),
        headers={"X-Forwarded-For": ip},
        allow_redirects=False,
    )


async def confirmation_page(
    hass: HomeAssistant,
    approver: TestClient[Any, Any],
    provider: FakeProvider,
    code: str,
    ip: str = APPROVER_IP,
) -> str:
    callback = await approver_login(hass, approver, provider, code, ip)
    assert callback.status == 302, await callback.text()
    assert urlsplit(callback.headers["Location"]).path == "/auth/oidc/device/confirm"
    confirm = await approver.get(callback.headers["Location"], headers={"X-Forwarded-For": ip})
    page = await confirm.text()
    assert confirm.status == 200, page
    return page


async def decide(
    approver: TestClient[Any, Any], page: str, decision: str, *, confirmed: bool = True
) -> ClientResponse:
    data = {
        "login": attribute(page, 'name="login" value'),
        "token": attribute(page, 'name="token" value'),
        "decision": decision,
    }
    if confirmed:
        data["confirmed"] = "yes"
    return await approver.post(
        "/auth/oidc/device/confirm",
        data=data,
        headers={"X-Forwarded-For": APPROVER_IP},
        allow_redirects=False,
    )


async def status_of(waiting: Waiting, client: TestClient[Any, Any] | None = None) -> Any:
    response = await (client or waiting.client).get(
        waiting.events_url, headers={"Accept": "application/json"}
    )
    return response.status, await response.json()


async def redeem(
    client: TestClient[Any, Any], location: str, client_id: str
) -> tuple[int, dict[str, Any]]:
    code = parse_qs(urlsplit(location).query)["code"][0]
    response = await client.post(
        "/auth/token",
        data={"grant_type": "authorization_code", "client_id": client_id, "code": code},
    )
    return response.status, await response.json()


def cookies_of(response: ClientResponse) -> dict[str, Any]:
    jar = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return dict(jar.items())


def failed_logins(hass: HomeAssistant, ip: str) -> int:
    return int(hass.http.app[KEY_FAILED_LOGIN_ATTEMPTS].get(ip_address(ip), 0))


# -- the pure core ------------------------------------------------------------------------------


def test_codes_are_unambiguous_and_normalized() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 8
        assert not set(code) & set("0O1IL")
        assert normalize_code(format_code(code).lower()) == code
        assert normalize_code(f" {code[:4]} - {code[4:]} ") == code
    assert set(CODE_ALPHABET).isdisjoint("0O1IL")
    for malformed in ("", "ABCD-EFG", "ABCD-EFGHJ", "ABCD-EFG0", "ABCD-EFGO", "A" * 100):
        assert normalize_code(malformed) is None


def test_device_description_from_user_agent() -> None:
    assert describe_device(APPS["ios"][1], APPS["ios"][0]) == DeviceDescription("ios_app", "iPhone")
    assert describe_device(APPS["android"][1], APPS["android"][0]) == DeviceDescription(
        "android_app", "Android"
    )
    mac = "Home Assistant/2025.1 (io.robbie.HomeAssistant; build:1; macOS 15.0.0)"
    assert describe_device(mac, APPS["ios"][0]) == DeviceDescription("mac_app", "Mac")
    assert describe_device(LAPTOP_UA, WEB_CLIENT_ID) == DeviceDescription(
        "browser", "Linux", "Chrome"
    )
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
    assert describe_device(firefox, WEB_CLIENT_ID) == DeviceDescription(
        "browser", "Windows", "Firefox"
    )
    # No User-Agent from an app: its client_id still names it.
    assert describe_device("", APPS["android"][0]) == DeviceDescription("android_app")
    assert describe_device("", WEB_CLIENT_ID) == DeviceDescription("browser")


def test_networks_are_masked() -> None:
    assert masked_network("203.0.113.77") == MaskedNetwork("203.0.113.0/24", local=False)
    assert masked_network("192.168.1.20") == MaskedNetwork("192.168.1.0/24", local=True)
    assert masked_network("2001:db8:1:2::5") == MaskedNetwork("2001:db8:1::/48", local=False)
    assert masked_network("::ffff:203.0.113.77") == MaskedNetwork("203.0.113.0/24", local=False)
    assert masked_network("not an address") is None
    assert source_key("2001:db8:1:2::5") == "2001:db8:1:2::/64"
    assert source_key("203.0.113.77") == "203.0.113.77"


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.31.0.1",
        "192.168.1.20",
        "127.0.0.1",
        "169.254.1.1",
        "8.8.8.8",
        "100.64.0.1",
        "fd12::1",
        "fc00::1",
        "::1",
        "fe80::1",
        "2001:db8::1",
        "::ffff:192.168.1.2",
    ],
)
def test_local_networks_are_home_assistants(address: str) -> None:
    network = masked_network(address)
    assert network is not None
    parsed = ip_address(address)
    unwrapped = getattr(parsed, "ipv4_mapped", None) or parsed
    assert network.local is is_local(unwrapped)


def client_request() -> ClientRequest:
    return ClientRequest(APPS["ios"][0], APP_REDIRECT, "s", None, None)


def create(store: DeviceLoginStore, remote: str) -> tuple[DeviceLogin, str]:
    """Start a cross-device login in the store (not refused by its creation limits)."""
    created = store.create(
        client_request(), user_agent="", remote=remote, approval_url=APPROVAL_URL
    )
    assert created is not None
    return created


def test_store_is_bounded_per_source_and_overall() -> None:
    clock = FakeClock()
    store = DeviceLoginStore(cap=10, per_source_cap=3, clock=clock)
    first, _ = create(store, "203.0.113.1")
    for _ in range(5):
        create(store, "203.0.113.1")
    assert len(store) == 3  # one network cannot fill the store
    outcome, _, _ = store.enter_code(first.code, "x", lambda _: None)
    assert outcome is EntryOutcome.INVALID  # evicted: its code is gone as well
    for number in range(20):
        create(store, f"198.51.100.{number}")
    assert len(store) == 10


def test_store_expires_codes_and_logins() -> None:
    clock = FakeClock()
    store = DeviceLoginStore(code_ttl=300, ttl=600, clock=clock)
    login, cookie = create(store, "203.0.113.1")
    clock.now += 301
    assert store.for_waiting_page(login.login_id, cookie) is None
    login, cookie = create(store, "203.0.113.1")
    outcome, claimed, approver = store.enter_code(login.code, "x", lambda _: None)
    assert outcome is EntryOutcome.OK
    assert claimed is login
    assert approver
    clock.now += 400  # past the code's window, within the login's
    assert store.for_waiting_page(login.login_id, cookie) is login
    clock.now += 201
    assert store.for_waiting_page(login.login_id, cookie) is None
    assert len(store) == 0


def test_store_is_single_use_and_bound_to_both_browsers() -> None:
    store = DeviceLoginStore()
    login, cookie = create(store, "203.0.113.1")
    assert store.for_waiting_page(login.login_id, None) is None
    assert store.for_waiting_page(login.login_id, cookie + "x") is None
    outcome, _, approver = store.enter_code(login.code, "a", lambda _: None)
    assert outcome is EntryOutcome.OK
    assert approver is not None
    # Another browser with the same code: used.
    assert store.enter_code(login.code, "b", lambda _: None)[0] is EntryOutcome.USED
    # The same browser may restart its provider login, a few times.
    for _ in range(MAX_CLAIMS - 1):
        assert store.enter_code(login.code, "a", lambda _: approver)[0] is EntryOutcome.OK
    assert store.enter_code(login.code, "a", lambda _: approver)[0] is EntryOutcome.USED
    assert store.for_approver(login.login_id, cookie) is None  # the waiting cookie is not it
    assert store.finish(login)
    assert not store.finish(login)


def test_limiter_blocks_after_repeated_failures_then_forgives() -> None:
    clock = FakeClock()
    limiter = AttemptLimiter(max_failures=5, window=900, block=900, cap=3, clock=clock)
    for _ in range(4):
        assert not limiter.count("a")
    assert limiter.count("a")
    assert limiter.blocked_for("a") == 900
    assert limiter.blocked_for("b") == 0
    clock.now += 901
    assert limiter.blocked_for("a") == 0
    for source in ("b", "c", "d", "e"):
        limiter.count(source)
    assert len(limiter) == 3


# -- the waiting page --------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["ios", "android"])
async def test_companion_app_welcome_offers_both_ways(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, app: str
) -> None:
    await set_up(hass, provider)
    waiting = await open_waiting_page(await hass_client_no_auth(), app)
    page = waiting.page
    # Try here: the normal button, focused.
    assert re.search(
        r'<button type="submit" class="primary" autofocus>Log in with Pocket ID<', page
    )
    # Or approve from another device: code, URL, QR code of the URL with the code.
    assert all(char in CODE_ALPHABET + "-" for char in waiting.code)
    origin = str(waiting.response.url.origin())
    assert f'id="device-url">{origin}/auth/oidc/device</p>' in page
    qr_url = attribute(page, "<img src")
    assert qr_url == f"/auth/oidc/device/qr?login={waiting.login_id}"
    assert 'role="img" aria-label="QR code that opens the approval page' in page
    assert 'role="status" aria-live="polite">Waiting for approval…<' in page
    # One static script of ours; without script, a meta refresh of the waiting page.
    assert '<script src="/auth/oidc/static/device.js" defer></script>' in page
    assert "<script>" not in page
    assert " style=" not in page
    refresh = f'<meta http-equiv="refresh" content="5;url={html.escape(waiting.wait_url)}">'
    assert refresh in page
    csp = waiting.response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe" not in csp
    # The page is bound to this web view by a random HttpOnly cookie.
    [(name, cookie)] = cookies_of(waiting.response).items()
    assert name.startswith("auth_oidc_device_")
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/auth/oidc/device"
    assert cookie.value not in page


async def test_script_is_served(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    response = await (await hass_client_no_auth()).get("/auth/oidc/static/device.js")
    assert response.status == 200
    assert response.content_type in ("text/javascript", "application/javascript")
    script = await response.text()
    assert "EventSource" in script
    assert "fetch(" in script


async def test_companion_apps_see_the_welcome_page_even_with_default_redirect(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider, features={"default_redirect": True})
    client = await hass_client_no_auth()
    skipped = await client.get("/auth/oidc/welcome", params=WEB_QUERY, allow_redirects=False)
    assert skipped.status == 302
    assert len(hass.data[DATA_DOMAIN].device_logins) == 0
    await open_waiting_page(client, "ios")
    assert len(hass.data[DATA_DOMAIN].device_logins) == 1


async def test_every_client_gets_a_link_to_log_in_on_another_device(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    client = await hass_client_no_auth()
    page = await (await client.get("/auth/oidc/welcome", params=WEB_QUERY)).text()
    assert "<script" not in page
    assert len(hass.data[DATA_DOMAIN].device_logins) == 0
    device_link = link(page, "Log in on another device")
    assert urlsplit(device_link).path == "/auth/oidc/welcome"
    assert parse_qs(urlsplit(device_link).query)["device_login"] == ["true"]
    waiting = await open_waiting_page(
        client, query=parse_qs_single(device_link), user_agent=LAPTOP_UA
    )
    assert "Log in with Pocket ID" in waiting.page
    assert parse_qs(urlsplit(waiting.wait_url).query)["device_login"] == ["true"]
    laptop = await hass_client_no_auth()
    page = await confirmation_page(hass, laptop, provider, waiting.code)
    assert 'id="confirm-device">Chrome on Linux<' in page
    await decide(laptop, page, "approve")
    finished = await client.get(waiting.wait_url, allow_redirects=False)
    location = finished.headers["Location"]
    assert location.startswith(WEB_REDIRECT + "&code=")
    # No "Keep me logged in" box on this path: its default (local network: on) applies.
    assert parse_qs(urlsplit(location).query)["storeToken"] == ["true"]


def parse_qs_single(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


# -- the whole way ------------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["ios", "android"])
async def test_app_signs_in_after_approval_on_another_device(
    hass: HomeAssistant,
    *,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    issued_codes: list[tuple[str, str]],
    caplog: pytest.LogCaptureFixture,
    app: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    await set_up(hass, provider, issued_codes)
    client_id, _, device_name = APPS[app]
    phone = await hass_client_no_auth()
    laptop = await hass_client_no_auth()
    waiting = await open_waiting_page(phone, app)
    assert await status_of(waiting) == (200, {"status": "waiting"})

    # The approval page: the QR code's URL fills the code in, and only fills it in.
    prefilled = await laptop.get("/auth/oidc/device", params={"code": waiting.code})
    form = await prefilled.text()
    assert f'value="{waiting.code}"' in form
    assert 'autocomplete="one-time-code"' in form
    assert 'inputmode="text"' in form
    assert "autofocus" in form
    assert '<label for="code">Code</label>' in form
    assert "Never enter a code that someone sent you" in form
    assert await status_of(waiting) == (200, {"status": "waiting"})

    page = await confirmation_page(hass, laptop, provider, waiting.code)
    assert await status_of(waiting) == (200, {"status": "entered"})
    # What is being approved, prominently, and the warning.
    assert f"Approve sign-in on {device_name}?" in page
    assert f'id="confirm-device">{device_name}<' in page
    assert re.search(r'id="confirm-started">\d\d:\d\d \(just now\)<', page)
    assert 'id="confirm-network">127.0.0.0/24 (local network)<' in page
    assert 'id="confirm-your-network">198.51.100.0/24<' in page
    assert f'id="confirm-code">{waiting.code}<' in page
    assert 'id="confirm-account">Alice Admin (alice)<' in page
    assert "Only approve if you started this sign-in yourself on that device just now" in page
    assert f">Approve sign-in on {device_name}</button>" in page
    assert 'type="checkbox" id="confirmed" name="confirmed" value="yes" required' in page
    # Nothing is issued before the approval.
    assert issued_codes == []

    done = await decide(laptop, page, "approve")
    assert done.status == 200
    assert "Sign-in approved" in await done.text()
    assert await status_of(waiting) == (200, {"status": "approved"})
    # The approving browser gets no code, even on the waiting page's URL.
    stolen = await laptop.get(waiting.wait_url, allow_redirects=False)
    assert stolen.status == 400
    assert issued_codes == []

    finished = await phone.get(waiting.wait_url, allow_redirects=False)
    assert finished.status == 302, await finished.text()
    location = finished.headers["Location"]
    assert location.startswith(APP_REDIRECT + "?code=")
    query = parse_qs(urlsplit(location).query)
    assert set(query) == {"code", "state"}
    assert query["state"] == ["app-state-1234"]
    assert issued_codes == [(client_id, query["code"][0])]

    status, tokens = await redeem(phone, location, client_id)
    assert status == 200, tokens
    refresh_token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert refresh_token is not None
    assert refresh_token.client_id == client_id
    assert refresh_token.user.name == "Alice Admin"
    assert [group.id for group in refresh_token.user.groups] == [GROUP_ID_ADMIN]
    assert refresh_token.user.credentials[0].data["sub"] == provider.user["sub"]

    # Single use: the waiting page and the code are spent.
    assert (await phone.get(waiting.wait_url, allow_redirects=False)).status == 400
    assert await status_of(waiting) == (404, {"status": "gone"})
    again = await enter_code(hass, await hass_client_no_auth(), waiting.code)
    assert again.status == 400
    assert "not valid or has expired" in await again.text()
    assert len(hass.data[DATA_DOMAIN].device_logins) == 0

    # No code, cookie or token in the log.
    our_log = "\n".join(
        record.getMessage() for record in caplog.records if record.name != "aiohttp.access"
    )
    cookie = next(iter(cookies_of(waiting.response).values())).value
    for secret in (waiting.code, cookie, query["code"][0], tokens["refresh_token"]):
        assert secret not in our_log
        assert secret.replace("-", "") not in our_log


async def test_server_sent_events_follow_the_approval(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    phone = await hass_client_no_auth()
    laptop = await hass_client_no_auth()
    waiting = await open_waiting_page(phone)
    stream = await phone.get(waiting.events_url, headers={"Accept": "text/event-stream"})
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert stream.headers["Cache-Control"] == "no-store"

    async def next_status() -> str:
        while True:
            line = (await asyncio.wait_for(stream.content.readline(), 5)).decode()
            if line.startswith("data: "):
                return str(line.removeprefix("data: ").strip())

    assert await next_status() == "waiting"
    page = await confirmation_page(hass, laptop, provider, waiting.code)
    assert await next_status() == "entered"
    await decide(laptop, page, "approve")
    assert await next_status() == "approved"
    assert (await stream.content.read()).strip() == b""  # the stream ends with a final status
    # Another browser's stream is refused outright.
    other = await (await hass_client_no_auth()).get(
        waiting.events_url, headers={"Accept": "text/event-stream"}
    )
    assert other.status == 404


async def test_another_browser_learns_nothing_from_the_waiting_page(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    issued_codes: list[tuple[str, str]],
) -> None:
    await set_up(hass, provider, issued_codes)
    phone = await hass_client_no_auth()
    attacker = await hass_client_no_auth()
    laptop = await hass_client_no_auth()
    waiting = await open_waiting_page(phone)
    page = await confirmation_page(hass, laptop, provider, waiting.code)
    await decide(laptop, page, "approve")
    for _ in range(3):
        assert await status_of(waiting, attacker) == (404, {"status": "gone"})
        response = await attacker.get(waiting.wait_url, allow_redirects=False)
        assert response.status == 400
        text = await response.text()
        assert "expired or was already used" in text
        assert waiting.code not in text
    # A forged cookie with the right name does not help either.
    [name] = cookies_of(waiting.response)
    attacker.session.cookie_jar.update_cookies({name: "forged"}, waiting.response.url)
    assert (await attacker.get(waiting.wait_url, allow_redirects=False)).status == 400
    assert issued_codes == []
    # The waiting page still gets its code.
    assert (await phone.get(waiting.wait_url, allow_redirects=False)).status == 302
    assert len(issued_codes) == 1


async def test_deny(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    issued_codes: list[tuple[str, str]],
) -> None:
    await set_up(hass, provider, issued_codes)
    phone = await hass_client_no_auth()
    laptop = await hass_client_no_auth()
    waiting = await open_waiting_page(phone)
    page = await confirmation_page(hass, laptop, provider, waiting.code)
    # Deny needs no confirmation box.
    done = await decide(laptop, page, "deny", confirmed=False)
    assert done.status == 200
    assert "Sign-in denied" in await done.text()
    assert await status_of(waiting) == (200, {"status": "denied"})
    # Approving after denying is refused.
    assert (await decide(laptop, page, "approve")).status == 400
    denied = await phone.get(waiting.wait_url, allow_redirects=False)
    assert denied.status == 403
    text = await denied.text()
    assert "denied on the other device" in text
    # The way back offers the app a new code.
    retry = link(text, "Try again")
    assert urlsplit(retry).path == "/auth/oidc/welcome"
    assert parse_qs(urlsplit(retry).query)["client_id"] == [APPS["ios"][0]]
    assert issued_codes == []
    assert len(hass.data[DATA_DOMAIN].device_logins) == 0


async def test_approval_needs_the_explicit_confirmation(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    issued_codes: list[tuple[str, str]],
) -> None:
    await set_up(hass, provider, issued_codes)
    phone = await hass_client_no_auth()
    laptop = await hass_client_no_auth()
    waiting = await open_waiting_page(phone)
    page = await confirmation_page(hass, laptop, provider, waiting.code)
    unconfirmed = await decide(laptop, page, "approve", confirmed=False)
    assert unconfirmed.status == 400
    text = await unconfirmed.text()
    assert 'role="alert"' in text
    assert "Tick the box" in text
    assert await status_of(waiting) == (200, {"status": "entered"})
    # A forged token, or the approval from another browser (CSRF), does nothing.
    forged = page.replace(attribute(page, 'name="token" value'), "forged-token")
    assert (await decide(laptop, forged, "approve")).status == 400
    other = await hass_client_no_auth()
    assert (await decide(other, page, "approve")).status == 400
    assert (await other.get(f"/auth/oidc/device/confirm?login={waiting.login_id}")).status == 400
    assert await status_of(waiting) == (200, {"status": "entered"})
    assert issued_codes == []
    # The real approver still can.
    assert (await decide(laptop, page, "approve")).status == 200
    assert await status_of(waiting) == (200, {"status": "approved"})


async def test_wrong_codes_are_limited_per_network_and_counted_for_the_ip_ban(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    waiting = await open_waiting_page(await hass_client_no_auth())
    guesser = await hass_client_no_auth()
    malformed = await enter_code(hass, guesser, "ABC")
    assert malformed.status == 400
    assert "Enter the 8 characters" in await malformed.text()
    assert failed_logins(hass, APPROVER_IP) == 0  # a malformed code guesses nothing
    wrong = "ZZZZ-ZZZZ" if waiting.code != "ZZZZ-ZZZZ" else "YYYY-YYYY"
    for attempt in range(1, 5):
        response = await enter_code(hass, guesser, wrong)
        assert response.status == 400
        text = await response.text()
        assert '<p class="notice" role="alert" id="code-error">This code is not valid' in text
        assert 'aria-invalid="true"' in text
        assert failed_logins(hass, APPROVER_IP) == attempt
    fifth = await enter_code(hass, guesser, wrong)
    assert fifth.status == 429
    assert "Too many wrong codes from your network. Try again in 15 minutes." in await fifth.text()
    # Blocked: even the right code, from this network, in any browser.
    for client in (guesser, await hass_client_no_auth()):
        blocked = await enter_code(hass, client, waiting.code)
        assert blocked.status == 429
        form = await (
            await client.get("/auth/oidc/device", headers={"X-Forwarded-For": APPROVER_IP})
        ).text()
        assert 'name="code"' not in form
    assert failed_logins(hass, APPROVER_IP) == 5
    # Another network is not affected, and the code still works there.
    response = await enter_code(hass, await hass_client_no_auth(), waiting.code, "203.0.113.9")
    assert response.status == 302


async def test_block_and_codes_expire(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    clock = FakeClock()
    hass.data[DATA_DOMAIN].device_logins = DeviceLoginStore(clock=clock)
    phone = await hass_client_no_auth()
    waiting = await open_waiting_page(phone)
    laptop = await hass_client_no_auth()
    for _ in range(5):
        await enter_code(hass, laptop, "ZZZZ-ZZZ2" if waiting.code != "ZZZZ-ZZZ2" else "ZZZZ-ZZZ3")
    assert (await enter_code(hass, laptop, waiting.code)).status == 429
    clock.now += 299
    assert (await enter_code(hass, laptop, waiting.code)).status == 429
    # The block lasts 15 minutes; the code only 5: it is gone by then.
    clock.now += 602
    expired = await enter_code(hass, laptop, waiting.code)
    assert expired.status == 400
    assert "not valid or has expired" in await expired.text()
    assert await status_of(waiting) == (404, {"status": "gone"})
    page = await (await phone.get(waiting.wait_url, allow_redirects=False)).text()
    assert "expired or was already used" in page
    # The way back gives the app a new code.
    retry = link(page, "Try again")
    fresh = await open_waiting_page(phone, query=parse_qs_single(retry))
    assert fresh.code != waiting.code


async def test_an_approval_that_takes_too_long_expires(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    issued_codes: list[tuple[str, str]],
) -> None:
    await set_up(hass, provider, issued_codes)
    clock = FakeClock()
    hass.data[DATA_DOMAIN].device_logins = DeviceLoginStore(clock=clock)
    phone = await hass_client_no_auth()
    laptop = await hass_client_no_auth()
    waiting = await open_waiting_page(phone)
    clock.now += 290  # entered just in time
    page = await confirmation_page(hass, laptop, provider, waiting.code)
    assert "(4 min ago)" in page
    clock.now += 311  # 10 minutes after the code was shown
    late = await decide(laptop, page, "approve")
    assert late.status == 400
    assert "expired" in await late.text()
    assert (await phone.get(waiting.wait_url, allow_redirects=False)).status == 400
    assert issued_codes == []


async def test_code_entered_in_one_browser_is_used_for_the_others(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    waiting = await open_waiting_page(await hass_client_no_auth())
    laptop = await hass_client_no_auth()
    first = await enter_code(hass, laptop, waiting.code.lower().replace("-", " "))
    assert first.status == 302
    approver_cookie = next(
        cookie for name, cookie in cookies_of(first).items() if "approver" in name
    )
    assert approver_cookie["httponly"]
    assert approver_cookie["samesite"] == "Lax"
    assert approver_cookie["path"] == "/auth/oidc"
    other = await enter_code(hass, await hass_client_no_auth(), waiting.code, "203.0.113.50")
    assert other.status == 400
    assert "already entered in another browser" in await other.text()
    # The browser that entered it may start its provider login again.
    assert (await enter_code(hass, laptop, waiting.code)).status == 302


async def test_approver_outside_the_required_group_cannot_approve(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    issued_codes: list[tuple[str, str]],
) -> None:
    await set_up(hass, provider, issued_codes, roles={"user": "household", "admin": "admins"})
    provider.user = {**provider.user, "groups": ["guests"]}
    waiting = await open_waiting_page(await hass_client_no_auth())
    laptop = await hass_client_no_auth()
    refused = await approver_login(hass, laptop, provider, waiting.code)
    assert refused.status == 403
    text = await refused.text()
    assert "not in a group that may use Home Assistant" in text
    assert 'href="/auth/oidc/device">Try again<' in text
    assert "Use another login method" not in text
    assert await status_of(waiting) == (200, {"status": "entered"})
    # The same browser may try again with an account that is allowed.
    provider.user = {**provider.user, "groups": ["household"]}
    page = await confirmation_page(hass, laptop, provider, waiting.code)
    assert 'id="confirm-account">Alice Admin (alice)<' in page
    assert issued_codes == []


async def test_deactivated_user_gets_nothing_on_the_waiting_page(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    issued_codes: list[tuple[str, str]],
) -> None:
    await set_up(hass, provider, issued_codes)

    async def approve_once() -> tuple[TestClient[Any, Any], Waiting]:
        phone = await hass_client_no_auth()
        laptop = await hass_client_no_auth()
        waiting = await open_waiting_page(phone)
        await decide(
            laptop, await confirmation_page(hass, laptop, provider, waiting.code), "approve"
        )
        return phone, waiting

    phone, waiting = await approve_once()
    location = (await phone.get(waiting.wait_url, allow_redirects=False)).headers["Location"]
    _, tokens = await redeem(phone, location, APPS["ios"][0])
    token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert token is not None
    await hass.auth.async_update_user(token.user, is_active=False)
    issued_codes.clear()
    phone, waiting = await approve_once()
    refused = await phone.get(waiting.wait_url, allow_redirects=False)
    assert refused.status == 403
    assert "deactivated" in await refused.text()
    assert issued_codes == []


async def test_app_code_is_bound_to_its_pkce_challenge(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    verifier = "app-verifier-" + "v" * 40
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = {**app_query(), "code_challenge": challenge, "code_challenge_method": "S256"}

    async def approved_code() -> str:
        phone = await hass_client_no_auth()
        laptop = await hass_client_no_auth()
        waiting = await open_waiting_page(phone, query=query)
        page = await confirmation_page(hass, laptop, provider, waiting.code)
        await decide(laptop, page, "approve")
        location = (await phone.get(waiting.wait_url, allow_redirects=False)).headers["Location"]
        return str(parse_qs(urlsplit(location).query)["code"][0])

    client = await hass_client_no_auth()
    grant = {"grant_type": "authorization_code", "client_id": APPS["ios"][0]}
    without = await client.post("/auth/token", data={**grant, "code": await approved_code()})
    assert without.status == 400
    with_verifier = await client.post(
        "/auth/token", data={**grant, "code": await approved_code(), "code_verifier": verifier}
    )
    assert with_verifier.status == 200


async def test_store_stays_bounded_under_a_flood(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider, features={"device_login": "anywhere"})
    hass.data[DATA_DOMAIN].device_logins = DeviceLoginStore(cap=8, per_source_cap=4)
    client = await hass_client_no_auth()
    for number in range(8):
        await open_waiting_page(client)  # all from 127.0.0.1
        await client.get(
            "/auth/oidc/welcome",
            params=app_query(),
            headers={"X-Forwarded-For": f"203.0.113.{number}"},
        )
    assert len(hass.data[DATA_DOMAIN].device_logins) == 8


async def test_password_login_in_the_app_still_registers_the_app(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, local_auth: Any
) -> None:
    await set_up(hass, provider, frontend=True)
    local_auth.data.add_auth("owner", "owner-password-1")
    await local_auth.data.async_save()
    client_id = APPS["ios"][0]
    phone = await hass_client_no_auth()
    waiting = await open_waiting_page(phone)
    other = link(waiting.page, "Use another login method")
    assert parse_qs(urlsplit(other).query)["skip_oidc_redirect"] == ["true"]
    assert (await phone.get(other, allow_redirects=False)).status == 200  # HA's own login page
    flow = await (
        await phone.post(
            "/auth/login_flow",
            json={
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": APP_REDIRECT,
            },
        )
    ).json()
    result = await (
        await phone.post(
            f"/auth/login_flow/{flow['flow_id']}",
            json={"client_id": client_id, "username": "owner", "password": "owner-password-1"},
        )
    ).json()
    assert result["type"] == "create_entry", result
    response = await phone.post(
        "/auth/token",
        data={"grant_type": "authorization_code", "client_id": client_id, "code": result["result"]},
    )
    assert response.status == 200
    token = hass.auth.async_get_refresh_token_by_token((await response.json())["refresh_token"])
    assert token is not None
    assert token.client_id == client_id
    assert token.credential is not None
    assert token.credential.auth_provider_type == "homeassistant"


async def test_try_here_still_hands_off_to_the_app(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    phone = await hass_client_no_auth()
    await open_waiting_page(phone)
    started = await phone.post(
        "/auth/oidc/redirect",
        data={**app_query(), "entry_id": entry_id(hass)},
        allow_redirects=False,
    )
    callback_query = await provider.authorize(started.headers["Location"])
    done = await phone.get(
        "/auth/oidc/callback?" + urlencode(callback_query), allow_redirects=False
    )
    assert done.headers["Location"].startswith(APP_REDIRECT + "?code=")
    status, _ = await redeem(phone, done.headers["Location"], APPS["ios"][0])
    assert status == 200


async def test_device_pages_have_security_headers_and_no_script(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    phone = await hass_client_no_auth()
    laptop = await hass_client_no_auth()
    waiting = await open_waiting_page(phone)
    pages = [
        await laptop.get("/auth/oidc/device", params={"code": waiting.code}),
        await enter_code(hass, laptop, "ZZZZ-ZZZZ"),
        await laptop.get("/auth/oidc/device/confirm?login=unknown"),
    ]
    page = await confirmation_page(hass, laptop, provider, waiting.code)
    pages.append(await decide(laptop, page, "approve"))
    for response in pages:
        assert response.content_type == "text/html"
        csp = response.headers["Content-Security-Policy"]
        assert "script-src" not in csp
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["Cache-Control"] == "no-store"
        text = (await response.text()).lower()
        assert "<script" not in text
        assert " style=" not in text


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/auth/oidc/device?code=%00%FF<script>", None),
        ("GET", "/auth/oidc/device?code=" + "A" * 5000, None),
        ("POST", "/auth/oidc/device", {"code": "ABCD-EFGH"}),
        ("POST", "/auth/oidc/device", {"entry_id": "unknown", "code": "ABCD-EFGH"}),
        ("GET", "/auth/oidc/device/confirm", None),
        ("GET", "/auth/oidc/device/confirm?login=" + "x" * 500, None),
        ("POST", "/auth/oidc/device/confirm", {"login": "x", "decision": "approve"}),
        ("GET", "/auth/oidc/device/wait", None),
        ("GET", "/auth/oidc/device/wait?login=x&client_id=javascript:alert(1)", None),
        ("GET", "/auth/oidc/device/events", None),
    ],
)
async def test_junk_gets_a_clear_refusal(
    hass: HomeAssistant,
    *,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    method: str,
    path: str,
    data: dict[str, str] | None,
) -> None:
    await set_up(hass, provider)
    client = await hass_client_no_auth()
    response = await client.request(method, path, data=data, allow_redirects=False)
    assert response.status in (200, 400, 404), await response.text()
    text = await response.text()
    assert "<script>" not in text
    assert "javascript:" not in text
    assert "Traceback" not in text
    assert len(hass.data[DATA_DOMAIN].device_logins) == 0


# -- remote phishing (RFC 8628 §5.4) and the cost of a waiting page ---------------------------

REMOTE_IP = "203.0.113.5"


def notice(page: str) -> str | None:
    match = re.search(r'id="device-notice">([^<]*)<', page)
    return html.unescape(match.group(1)) if match else None


@pytest.mark.parametrize(
    ("mode", "local_offered", "remote_offered"),
    [(None, True, False), ("local", True, False), ("anywhere", True, True), ("off", False, False)],
)
async def test_where_a_device_may_wait(
    hass: HomeAssistant,
    *,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    mode: str | None,
    local_offered: bool,
    remote_offered: bool,
) -> None:
    options: dict[str, Any] = {"features": {"device_login": mode}} if mode else {}
    await set_up(hass, provider, **options)
    client = await hass_client_no_auth()
    store = hass.data[DATA_DOMAIN].device_logins
    for ip, offered in (("192.168.1.20", local_offered), (REMOTE_IP, remote_offered)):
        where = {"X-Forwarded-For": ip, "User-Agent": APPS["ios"][1]}
        # The companion app's welcome page: the waiting part only where it is allowed.
        app = await client.get("/auth/oidc/welcome", params=app_query(), headers=where)
        page = await app.text()
        assert app.status == 200, page
        assert ("Log in on another device" in page) is offered
        assert ('id="device-code"' in page) is offered
        assert "Log in with Pocket ID" in page
        # Every other client's welcome page: the link only where it leads somewhere.
        web = await (await client.get("/auth/oidc/welcome", params=WEB_QUERY, headers=where)).text()
        assert ("Log in on another device" in web) is offered
        # An explicit request from where it is not allowed: a clear, translated refusal.
        before = len(store)
        explicit = await client.get(
            "/auth/oidc/welcome", params={**WEB_QUERY, "device_login": "true"}, headers=where
        )
        text = await explicit.text()
        if offered:
            assert explicit.status == 200
            assert len(store) == before + 1
            continue
        assert explicit.status == 403, text
        assert len(store) == before
        assert 'id="device-code"' not in text
        expected = (
            "Logging in on another device is turned off here."
            if mode == "off"
            else "Logging in on another device is only available on your home network."
        )
        assert (notice(text) or "").startswith(expected), text
        assert "Log in with Pocket ID" in text
        assert "<script" not in text
    assert len(store) == int(local_offered) * 2 + int(remote_offered) * 2


async def test_refusal_is_translated(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    response = await (await hass_client_no_auth()).get(
        "/auth/oidc/welcome",
        params={**WEB_QUERY, "device_login": "true"},
        headers={"X-Forwarded-For": REMOTE_IP, "Accept-Language": "de"},
    )
    assert response.status == 403
    assert notice(await response.text()) == (
        "Die Anmeldung auf einem anderen Gerät ist nur in deinem Heimnetz verfügbar. Melde "
        "dich hier an oder verbinde dieses Gerät zuerst mit deinem Heimnetz."
    )


async def test_home_assistant_cloud_counts_as_remote(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    client = await hass_client_no_auth()
    with patch("custom_components.auth_oidc.browser_views.is_cloud_connection", return_value=True):
        response = await client.get("/auth/oidc/welcome", params=app_query())
    assert 'id="device-code"' not in await response.text()
    assert len(hass.data[DATA_DOMAIN].device_logins) == 0


async def test_confirmation_warns_when_the_networks_differ_and_names_the_client(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    phone = await hass_client_no_auth()
    waiting = await open_waiting_page(phone)  # from 127.0.0.1
    page = await confirmation_page(hass, await hass_client_no_auth(), provider, waiting.code)
    assert re.search(r'class="warning" role="alert" id="confirm-other-network">', page)
    assert "are on different networks" in page
    assert f'id="confirm-client">{APPS["ios"][0]}<' in page
    # Same network: no such warning.
    waiting = await open_waiting_page(phone)
    page = await confirmation_page(
        hass, await hass_client_no_auth(), provider, waiting.code, ip="127.0.0.9"
    )
    assert 'id="confirm-other-network"' not in page
    assert 'id="confirm-network">127.0.0.0/24 (local network)<' in page


async def test_every_approval_is_announced(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    events = async_capture_events(hass, DEVICE_APPROVED_EVENT)
    notifications: list[Any] = []
    persistent_notification.async_register_callback(
        hass, lambda _, added: notifications.extend(added.values())
    )
    phone = await hass_client_no_auth()
    laptop = await hass_client_no_auth()
    denied = await open_waiting_page(phone)
    await decide(laptop, await confirmation_page(hass, laptop, provider, denied.code), "deny")
    await hass.async_block_till_done()
    assert events == []
    assert notifications == []

    waiting = await open_waiting_page(phone)
    await decide(laptop, await confirmation_page(hass, laptop, provider, waiting.code), "approve")
    await hass.async_block_till_done()
    [event] = events
    assert event.data["account"] == "Alice Admin"
    assert event.data["username"] == "alice"
    assert event.data["device"] == "Home Assistant iOS app (iPhone)"
    assert event.data["client_id"] == APPS["ios"][0]
    assert event.data["provider"] == "Pocket ID"
    assert event.data["network"] == "127.0.0.0/24"
    assert event.data["local"] is True
    assert event.data["approver_network"] == "198.51.100.0/24"
    assert event.data["different_networks"] is True
    assert dt_util.parse_datetime(event.data["time"]) is not None
    [notification] = notifications
    assert notification["title"] == "Sign-in approved on another device"
    message = notification["message"]
    for shown in (
        "Alice Admin",
        "Home Assistant iOS app (iPhone)",
        "127.0.0.0/24",
        APPROVER_IP[:10],
    ):
        assert shown in message
    # No code, cookie or token in either.
    cookie = next(iter(cookies_of(waiting.response).values())).value
    for secret in (waiting.code, waiting.code.replace("-", ""), cookie, waiting.login_id):
        assert secret not in message
        assert secret not in repr(event.data)


async def test_qr_code_is_rendered_once_per_login_and_only_for_its_page(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    rendered: list[str] = []

    def counting_qr_svg(data: str) -> bytes:
        rendered.append(data)
        return qr_svg(data)

    phone = await hass_client_no_auth()
    with patch("custom_components.auth_oidc.device_views.qr_svg", counting_qr_svg):
        waiting = await open_waiting_page(phone)
        # The page itself renders none; a reload (no script) neither.
        assert (await phone.get(waiting.wait_url)).status == 200
        assert rendered == []
        qr_url = attribute(waiting.page, "<img src")
        assert (await (await hass_client_no_auth()).get(qr_url)).status == 404
        first = await phone.get(qr_url)
        second = await phone.get(qr_url)
    assert first.status == second.status == 200
    assert first.content_type == "image/svg+xml"
    assert first.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert first.headers["Cache-Control"] == "no-store"
    image = await first.read()
    assert image == await second.read()
    origin = str(waiting.response.url.origin())
    assert rendered == [f"{origin}/auth/oidc/device?code={waiting.code}"]
    # The image is the QR code of exactly that URL.
    assert qr_modules(image) == [
        [bool(module) for module in row] for row in pyqrcode.create(rendered[0], error="M").code
    ]
    assert b"<script" not in image


def qr_modules(svg: bytes) -> list[list[bool]]:
    """Read the dark modules back from the SVG path (runs "M<x> <y>h<n>v1h-<n>z")."""
    size = int(re.search(rb'viewBox="0 0 (\d+) ', svg).group(1)) - 8  # type: ignore[union-attr]
    grid = [[False] * size for _ in range(size)]
    for x, y, length in re.findall(rb"M(\d+) (\d+)h(\d+)v1h-\d+z", svg):
        for column in range(int(x) - 4, int(x) - 4 + int(length)):
            grid[int(y) - 4][column] = True
    return grid


async def test_approval_url_comes_from_a_valid_short_origin(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    client = await hass_client_no_auth()
    for host in ("a" * 2000 + ".example.com", "evil.example.com/x?", "bad_host.example.com"):
        response = await client.get(
            "/auth/oidc/welcome", params=app_query(), headers={"Host": host}
        )
        page = await response.text()
        assert response.status == 200, (host[:30], page)
        assert 'id="device-code"' not in page, (
            host[:30],
            re.findall(r'id="device-url">[^<]*', page),
        )
        assert (notice(page) or "").startswith("Logging in on another device is not available at")
        explicit = await client.get(
            "/auth/oidc/welcome",
            params={**WEB_QUERY, "device_login": "true"},
            headers={"Host": host},
        )
        assert explicit.status == 400
    assert len(hass.data[DATA_DOMAIN].device_logins) == 0
    waiting = await open_waiting_page(client)
    assert f'id="device-url">{waiting.response.url.origin()}/auth/oidc/device</p>' in waiting.page


async def test_waiting_page_creations_are_limited_per_source(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider, features={"device_login": "anywhere"})
    client = await hass_client_no_auth()
    store = hass.data[DATA_DOMAIN].device_logins

    async def ask(ip: str) -> ClientResponse:
        response: ClientResponse = await client.get(
            "/auth/oidc/welcome",
            params={**WEB_QUERY, "device_login": "true"},
            headers={"X-Forwarded-For": ip},
        )
        return response

    # One IPv6 /64 is one source, whatever the interface identifier.
    for number in range(CREATIONS_PER_SOURCE):
        assert (await ask(f"2001:db8:1:2::{number + 1:x}")).status == 200
    refused = await ask("2001:db8:1:2::ffff")
    assert refused.status == 429
    assert (notice(await refused.text()) or "").startswith(
        "Too many sign-in codes were requested from your network. Try again in 5 minutes"
    )
    assert len(store) == CREATIONS_PER_SOURCE
    # Another /64, another IPv4 address: not affected.
    assert (await ask("2001:db8:1:3::1")).status == 200
    assert (await ask(REMOTE_IP)).status == 200
    # A companion app over the limit still gets its welcome page.
    app = await client.get(
        "/auth/oidc/welcome", params=app_query(), headers={"X-Forwarded-For": "2001:db8:1:2::1"}
    )
    assert app.status == 200
    assert "Log in with Pocket ID" in await app.text()


def test_a_flood_from_a_few_networks_does_not_evict_a_waiting_device() -> None:
    store = DeviceLoginStore(cap=50, creations_per_network=10_000, creations_per_source=10_000)
    victim, cookie = create(store, "192.168.1.20")
    # Many sources in 24 networks (IPv4 /24 and IPv6 /48), far past the store's cap.
    for number in range(2000):
        network = number % 24
        remote = (
            f"203.0.{network}.{number % 250}" if network % 2 else f"2001:db8:{network}:{number}::1"
        )
        create(store, remote)
    assert len(store) == 50
    assert store.for_waiting_page(victim.login_id, cookie) is victim


async def test_device_cookies_are_secure_with_force_https(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider, features={"force_https": True})
    phone = await hass_client_no_auth()  # plain http behind a TLS proxy that says nothing
    waiting = await open_waiting_page(phone)
    [cookie] = cookies_of(waiting.response).values()
    assert cookie["secure"]
    assert f'id="device-url">https://{waiting.response.url.host}:' in waiting.page
    started = await enter_code(hass, await hass_client_no_auth(), waiting.code)
    assert started.status == 302
    approver = [c for name, c in cookies_of(started).items() if "approver" in name]
    assert approver
    assert approver[0]["secure"]


async def test_event_streams_are_capped_per_login_and_in_total(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await set_up(hass, provider)
    hass.data[DATA_DOMAIN].device_logins = DeviceLoginStore(streams_total=3)
    phone = await hass_client_no_auth()
    first = await open_waiting_page(phone)
    second = await open_waiting_page(phone)
    sse = {"Accept": "text/event-stream"}
    streams = [await phone.get(first.events_url, headers=sse) for _ in range(STREAMS_PER_LOGIN)]
    assert [stream.status for stream in streams] == [200] * STREAMS_PER_LOGIN
    over = await phone.get(first.events_url, headers=sse)
    assert over.status == 429
    assert over.headers["Retry-After"] == "2"
    assert "poll" in await over.text()
    # Polling still answers.
    assert await status_of(first) == (200, {"status": "waiting"})
    assert (await phone.get(second.events_url, headers=sse)).status == 200
    assert (await phone.get(second.events_url, headers=sse)).status == 429  # 3 in total
    # A stream that ends frees its place.
    streams[0].close()
    for _ in range(50):
        await asyncio.sleep(0.05)
        retry = await phone.get(second.events_url, headers=sse)
        if retry.status == 200:
            break
    assert retry.status == 200
