"""Integration tests: back-channel logout ends exactly the Home Assistant sessions it names."""

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from homeassistant.core import Event, HomeAssistant

from custom_components.auth_oidc.const import EVENT_REVOKED
from custom_components.auth_oidc.oidc.id_token import BACKCHANNEL_LOGOUT_EVENT
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    USER,
    Harness,
)

pytestmark = pytest.mark.usefixtures("onboarded", "client_id_pages")

LOGOUT_PATH = "/auth/oidc/backchannel-logout"
FORM = "application/x-www-form-urlencoded"


def logout_claims(provider: FakeProvider, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": provider.issuer,
        "aud": provider.client_id,
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "sub": USER["sub"],
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


async def login_session(harness: Harness, session_id: str) -> str:
    """Log in with the provider reporting `session_id`; return Home Assistant's refresh token."""
    harness.provider.id_token_claims_override["sid"] = session_id
    tokens = await harness.login_ok()
    return str(tokens["refresh_token"])


def alive(hass: HomeAssistant, refresh_token: str) -> bool:
    return hass.auth.async_get_refresh_token_by_token(refresh_token) is not None


async def post_logout(harness: Harness, token: str) -> tuple[int, Any, str]:
    response = await harness.client.post(LOGOUT_PATH, data={"logout_token": token})
    body = await response.json() if response.status == 400 else await response.text()
    return response.status, body, response.headers.get("Cache-Control", "")


async def test_logout_by_sid_ends_only_that_session(hass: HomeAssistant, harness: Harness) -> None:
    first = await login_session(harness, "session-one")
    second = await login_session(harness, "session-two")
    revoked: list[Event] = []
    hass.bus.async_listen(EVENT_REVOKED, revoked.append)

    token = harness.provider.sign(logout_claims(harness.provider, sid="session-one"))
    status, _, cache = await post_logout(harness, token)
    await hass.async_block_till_done()

    assert status == 200
    assert cache == "no-store"
    assert not alive(hass, first)
    assert alive(hass, second)
    [event] = revoked
    assert event.data["reason"] == "backchannel_logout"
    assert event.data["sessions"] == 1
    assert event.data["provider"] == "Pocket ID"


async def test_logout_by_sub_ends_every_session_of_that_user(
    hass: HomeAssistant, harness: Harness
) -> None:
    sessions = [await login_session(harness, f"session-{n}") for n in range(3)]
    token = harness.provider.sign(logout_claims(harness.provider))
    status, _, _ = await post_logout(harness, token)
    assert status == 200
    assert not any(alive(hass, refresh) for refresh in sessions)


async def test_logout_by_sid_alone_finds_the_user(hass: HomeAssistant, harness: Harness) -> None:
    first = await login_session(harness, "session-one")
    second = await login_session(harness, "session-two")
    token = harness.provider.sign(logout_claims(harness.provider, sub=None, sid="session-two"))
    status, _, _ = await post_logout(harness, token)
    assert status == 200
    assert alive(hass, first)
    assert not alive(hass, second)


async def test_explicitly_typed_logout_token_is_accepted(
    hass: HomeAssistant, harness: Harness
) -> None:
    refresh = await login_session(harness, "session-one")
    harness.provider.id_token_header_override["typ"] = "logout+jwt"
    status, _, _ = await post_logout(
        harness, harness.provider.sign(logout_claims(harness.provider))
    )
    assert status == 200
    assert not alive(hass, refresh)


type Forge = Callable[[FakeProvider], str]


def signed(**changes: Any) -> Forge:
    return lambda provider: provider.sign(logout_claims(provider, **changes))


def with_mode(mode: str) -> Forge:
    def forge(provider: FakeProvider) -> str:
        provider.sign_with = mode
        return provider.sign(logout_claims(provider))

    return forge


def typed(typ: str) -> Forge:
    def forge(provider: FakeProvider) -> str:
        provider.id_token_header_override["typ"] = typ
        return provider.sign(logout_claims(provider))

    return forge


FORGERIES: dict[str, Forge] = {
    "signed with another key": with_mode("other-key"),
    "unsigned (alg none)": with_mode("none"),
    "HS256 with the client secret as key": with_mode("hs256-client-secret"),
    "typed as an access token": typed("at+jwt"),
    "wrong issuer": signed(iss="https://evil.example.net"),
    "another audience": signed(aud="someone-else"),
    "an extra audience": signed(aud=["test-client", "someone-else"]),
    "issued an hour ago": signed(iat=int(time.time()) - 3600),
    "issued in the future": signed(iat=int(time.time()) + 3600),
    "expired": signed(exp=int(time.time()) - 3600),
    "neither sub nor sid": signed(sub=None),
    "no events": signed(events=None),
    "events without the logout event": signed(events={"other": {}}),
    "logout event not an object": signed(events={BACKCHANNEL_LOGOUT_EVENT: "yes"}),
    "with a nonce": signed(nonce="n-0123456789"),
    "no jti": signed(jti=None),
    "an ID token": lambda provider: provider.mint_id_token(nonce="n-0123456789"),
    "not a JWT": lambda provider: "not-a-token",
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
async def test_forged_or_malformed_logout_tokens_are_refused_and_revoke_nothing(
    hass: HomeAssistant, harness: Harness, forge: Forge
) -> None:
    refresh = await login_session(harness, "session-one")
    if forge is FORGERIES["an extra audience"]:
        forge = signed(aud=[harness.provider.client_id, "someone-else"])
    status, body, cache = await post_logout(harness, forge(harness.provider))
    assert status == 400
    assert body["error"] == "invalid_request"
    assert cache == "no-store"
    assert alive(hass, refresh)


async def test_replayed_logout_token_is_refused(hass: HomeAssistant, harness: Harness) -> None:
    await login_session(harness, "session-one")
    token = harness.provider.sign(logout_claims(harness.provider, sid="session-one"))
    assert (await post_logout(harness, token))[0] == 200
    refresh = await login_session(harness, "session-one")
    status, body, _ = await post_logout(harness, token)
    assert status == 400
    assert body["error_description"] == "logout token replayed"
    assert alive(hass, refresh)


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ({"other": "x"}, None),
        ([("logout_token", "a.b.c"), ("logout_token", "d.e.f")], None),
        ('{"logout_token": "a.b.c"}', {"Content-Type": "application/json"}),
        ("logout_token=" + "x" * 70_000, {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
    ids=["no token", "two tokens", "json body", "oversized"],
)
async def test_malformed_requests_get_a_400(
    harness: Harness, data: Any, headers: dict[str, str] | None
) -> None:
    response = await harness.client.post(LOGOUT_PATH, data=data, headers=headers)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


def unsigned_jwt(payload: str) -> str:
    return f"eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln"


@pytest.mark.parametrize(
    ("token", "description"),
    [
        ("a.!!!.c", "malformed token"),
        (unsigned_jwt("e30"), "no issuer"),  # {}
        (unsigned_jwt("eyJpc3MiOiJodHRwczovL290aGVyLmV4YW1wbGUifQ"), "unknown issuer"),
    ],
    ids=["undecodable", "no issuer", "unknown issuer"],
)
async def test_tokens_of_no_configured_provider_are_refused(
    harness: Harness, token: str, description: str
) -> None:
    status, body, _ = await post_logout(harness, token)
    assert status == 400
    assert body["error_description"] == description


async def test_a_body_that_is_not_a_form_is_refused(harness: Harness) -> None:
    response = await harness.client.post(
        LOGOUT_PATH, data="logout_token", headers={"Content-Type": FORM}
    )
    assert response.status == 400
    assert (await response.json())["error_description"] == "malformed form body"


async def test_logout_of_an_unknown_user_ends_nothing_and_is_accepted(
    hass: HomeAssistant, harness: Harness
) -> None:
    refresh = await login_session(harness, "session-one")
    token = harness.provider.sign(logout_claims(harness.provider, sub="someone-else"))
    status, _, _ = await post_logout(harness, token)
    assert status == 200
    assert alive(hass, refresh)
