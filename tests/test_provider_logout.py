"""Integration tests: RP-initiated logout ends the provider session after logging out."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import ClientResponse
from homeassistant.core import Event, HomeAssistant

from custom_components.auth_oidc import sessions
from custom_components.auth_oidc.const import EVENT_LOGOUT
from custom_components.auth_oidc.logbook import describe_logout
from custom_components.auth_oidc.sessions import IdTokenHints, PendingLogouts
from tests.fake_clock import FakeClock
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    CLIENT_ID,
    Harness,
    authorize_query,
    setup_harness,
)

pytestmark = pytest.mark.usefixtures("onboarded", "client_id_pages")

COOKIE = "auth_oidc_logout"
ENDS_SESSION = {"end_provider_session": True}


async def log_out(harness: Harness, refresh_token: str, *, legacy: bool = False) -> ClientResponse:
    """Revoke the refresh token as Home Assistant's frontend does when it logs out."""
    if legacy:
        return await harness.client.post(
            "/auth/token", data={"action": "revoke", "token": refresh_token}
        )
    return await harness.client.post("/auth/revoke", data={"token": refresh_token})


async def welcome(harness: Harness) -> ClientResponse:
    """Open the welcome page as the frontend's reload after logout does."""
    return await harness.client.get(
        "/auth/oidc/welcome", params=authorize_query(), allow_redirects=False
    )


def issued_id_token(provider: FakeProvider) -> str:
    """Return the ID token of the provider's last token response."""
    return str(provider.token_responses[-1]["id_token"])


def cookie_names(harness: Harness) -> set[str]:
    """Return the names of the cookies the test browser holds."""
    return {cookie.key for cookie in harness.client.session.cookie_jar}


async def test_option_off_is_a_plain_logout(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(hass, hass_client_no_auth, provider)
    tokens = await harness.login_ok()

    response = await log_out(harness, tokens["refresh_token"])

    assert response.status == 200
    assert COOKIE not in response.cookies
    assert hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"]) is None
    page = await welcome(harness)
    assert page.status == 200
    assert "Log in with Pocket ID" in await page.text()


@pytest.mark.parametrize("legacy", [False, True], ids=["auth_revoke", "auth_token_action"])
async def test_option_on_sends_the_browser_to_end_session_with_server_side_hint(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, legacy: bool
) -> None:
    harness = await setup_harness(hass, hass_client_no_auth, provider, features=ENDS_SESSION)
    login = await harness.login()
    id_token = issued_id_token(provider)
    tokens = await harness.redeem(login.headers["Location"])
    assert id_token not in login.headers["Location"]

    response = await log_out(harness, tokens["refresh_token"], legacy=legacy)

    assert response.status == 200
    assert hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"]) is None
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["path"] == "/auth/oidc"
    assert cookie["samesite"] == "Lax"
    assert id_token not in cookie.value
    assert id_token not in await response.text()

    page = await welcome(harness)

    assert page.status == 302
    location = urlsplit(page.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == provider.url("end_session")
    params = parse_qs(location.query)
    assert params == {
        "client_id": [provider.client_id],
        "post_logout_redirect_uri": [f"{harness.client.make_url('/auth/oidc/logged-out')}"],
        "id_token_hint": [id_token],
    }
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    # The cookie is used once: the next welcome page is the login choice, without the token.
    assert COOKIE not in cookie_names(harness)
    again = await welcome(harness)
    assert again.status == 200
    assert id_token not in await again.text()

    back = await harness.client.get("/auth/oidc/logged-out", allow_redirects=False)
    assert back.status == 302
    assert back.headers["Location"] == "/"


async def test_provider_without_end_session_falls_back_to_plain_logout(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    provider.discovery_remove.add("end_session_endpoint")
    harness = await setup_harness(hass, hass_client_no_auth, provider, features=ENDS_SESSION)
    tokens = await harness.login_ok()

    response = await log_out(harness, tokens["refresh_token"])

    assert response.status == 200
    assert hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"]) is None
    page = await welcome(harness)
    assert page.status == 200
    assert "Log in with Pocket ID" in await page.text()


@pytest.mark.parametrize("value", ["forged", "", "x" * 43])
async def test_forged_cookie_does_nothing(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, value: str
) -> None:
    harness = await setup_harness(hass, hass_client_no_auth, provider, features=ENDS_SESSION)
    await harness.login_ok()
    harness.client.session.cookie_jar.update_cookies({COOKIE: value})

    page = await welcome(harness)

    assert page.status == 200
    assert issued_id_token(provider) not in await page.text()


async def test_revoking_an_unknown_or_foreign_token_sets_no_cookie(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(hass, hass_client_no_auth, provider, features=ENDS_SESSION)
    owner = await hass.auth.async_create_user("Owner")
    client_id = "https://ha.example.com/"
    foreign = await hass.auth.async_create_refresh_token(owner, client_id)

    unknown = await log_out(harness, "not-a-token")
    other = await log_out(harness, foreign.token)

    assert unknown.status == other.status == 200
    assert COOKIE not in unknown.cookies
    assert COOKIE not in other.cookies
    assert (await welcome(harness)).status == 200


async def test_after_a_restart_the_logout_goes_to_the_provider_without_a_hint(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(hass, hass_client_no_auth, provider, features=ENDS_SESSION)
    tokens = await harness.login_ok()
    # The remembered ID tokens live in memory only: a restart forgets them.
    harness.entry.runtime_data.id_token_hints = IdTokenHints()

    await log_out(harness, tokens["refresh_token"])
    page = await welcome(harness)

    assert page.status == 302
    params = parse_qs(urlsplit(page.headers["Location"]).query)
    assert set(params) == {"client_id", "post_logout_redirect_uri"}


def test_remembered_id_tokens_are_bounded_and_latest_wins() -> None:
    hints = IdTokenHints(cap=2)
    hints.record("a", "token-a1")
    hints.record("b", "token-b")
    hints.record("a", "token-a2")
    hints.record("c", "token-c")

    assert hints.get("a") == "token-a2"
    assert hints.get("b") is None  # the oldest went
    assert hints.get("c") == "token-c"


def test_pending_logouts_are_bounded_used_once_and_expire() -> None:
    clock = FakeClock()
    pending = PendingLogouts(cap=2, clock=clock)
    first = pending.add("entry", "a")
    second = pending.add("entry", "b")
    third = pending.add("entry", "c")

    assert pending.take(first) is None  # evicted by the cap
    taken = pending.take(second)
    assert taken is not None
    assert taken.subject == "b"
    assert pending.take(second) is None  # used once
    clock.advance(sessions.PENDING_LOGOUT_SECONDS + 1)
    assert pending.take(third) is None  # expired


@pytest.mark.parametrize("ends_session", [False, True], ids=["plain", "provider_too"])
async def test_logout_fires_an_audit_event(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, ends_session: bool
) -> None:
    features = ENDS_SESSION if ends_session else {}
    harness = await setup_harness(hass, hass_client_no_auth, provider, features=features)
    tokens = await harness.login_ok()
    events: list[Event] = []
    hass.bus.async_listen(EVENT_LOGOUT, events.append)

    await log_out(harness, tokens["refresh_token"])
    await hass.async_block_till_done()

    [event] = events
    user = await hass.auth.async_get_users()
    ours = [u for u in user if any(c.auth_provider_type == "auth_oidc" for c in u.credentials)]
    assert event.data["user_id"] == ours[0].id
    assert event.data["provider"] == "Pocket ID"
    assert event.data["provider_session_ended"] is ends_session
    assert tokens["refresh_token"] not in str(event.data)
    assert describe_logout(event.data).startswith("Logged out of Home Assistant")


async def test_logging_out_a_password_user_fires_no_event(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, hass_admin_user: Any
) -> None:
    harness = await setup_harness(hass, hass_client_no_auth, provider)
    refresh = await hass.auth.async_create_refresh_token(hass_admin_user, CLIENT_ID)
    events: list[Event] = []
    hass.bus.async_listen(EVENT_LOGOUT, events.append)
    await log_out(harness, refresh.token)
    await hass.async_block_till_done()
    assert events == []
