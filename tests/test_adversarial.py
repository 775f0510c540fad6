"""Adversarial relying-party scenarios, each driven through the real integration and FakeProvider.

Every refused scenario asserts the refusal (status, translated reason, technical detail, no
redirect, same-origin links, no secret on the page) and the absence of side effects: no user,
credential, refresh token, person or authorization code, the expected number of token and
UserInfo requests, and whether Home Assistant's IP-ban counter counted the attempt.
"""

import logging
import re
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from ipaddress import ip_address
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from homeassistant.components import persistent_notification
from homeassistant.components.http.ban import KEY_BAN_MANAGER, KEY_FAILED_LOGIN_ATTEMPTS
from homeassistant.core import HomeAssistant
from joserfc.errors import SecurityWarning
from joserfc.jwk import RSAKey
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.auth_oidc.const import CONTEXT_IDENTITY, DOMAIN
from custom_components.auth_oidc.runtime import DATA_DOMAIN
from custom_components.auth_oidc.settings import SETTINGS_SCHEMA
from tests.client_app import REGISTERED_REDIRECT_URI, ClientApp
from tests.fake_clock import FakeClock
from tests.fake_provider import FakeProvider, pkce_s256
from tests.login_driver import (
    CLIENT_ID,
    CLIENT_STATE,
    REDIRECT_URI,
    USER,
    VERIFIER,
    Harness,
    assert_error_page,
    authorize_query,
    binding_cookie_name,
    is_same_origin_path,
    local_user,
    page_links,
    registered_client_query,
    response_secrets,
    setup_harness,
)

pytestmark = [
    pytest.mark.usefixtures("onboarded", "client_id_pages"),
    pytest.mark.fake_provider(alg="RS256"),
    pytest.mark.harness(settle=True),
]

EVIL = "https://evil.example.net/"
EVIL_CALLBACK = "https://evil.example.net/steal"
SHORT_TIMEOUT = 0.2
SLOW = 1.0
TWO_MEGABYTES = 2 * 1024 * 1024

type Knobs = dict[str, Any] | Callable[[FakeProvider], dict[str, Any]]


@pytest.fixture
def new_browser(aiohttp_client: Any, hass_client_no_auth: Any) -> Any:
    """Return a factory of further browsers (own cookie jar) on the harness's server."""

    async def make(harness: Harness) -> Any:
        return await aiohttp_client(harness.client.server)

    return make


def now() -> int:
    return int(time.time())


def apply_knobs(provider: FakeProvider, knobs: Knobs) -> None:
    """Set FakeProvider knobs, computing them from the running provider when needed."""
    values = knobs(provider) if callable(knobs) else knobs
    for name, value in values.items():
        assert hasattr(provider, name), name
        setattr(provider, name, value)


def weak_rsa_jwk() -> dict[str, Any]:
    """Return a 1024-bit RSA signature key: too short to be trusted (RFC 7518 §3.3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        key = RSAKey.generate_key(1024, auto_kid=True)
    return {**key.as_dict(private=False), "use": "sig"}


def other_rsa_jwk() -> dict[str, Any]:
    """Return a second published RSA signature key (not the one the provider signs with)."""
    key = RSAKey.generate_key(2048, auto_kid=True)
    return {**key.as_dict(private=False), "use": "sig", "alg": "RS256"}


async def earlier_id_token(harness: Harness) -> None:
    """Log in once and make the provider serve that login's ID token again (replay)."""
    await harness.login_ok()
    harness.provider.id_token_raw = harness.provider.token_responses[-1]["id_token"]


@dataclass(frozen=True)
class Attack:
    """One refused login: what the provider (or attacker) does and what we must answer."""

    id: str
    knobs: Knobs
    detail: str
    reason: str = "verification_failed"
    status: int = 400
    alg: str = "RS256"
    options: dict[str, Any] = field(default_factory=dict)
    before_setup: Knobs = field(default_factory=dict)
    prepare: Callable[[Harness], Awaitable[None]] | None = None
    timeout: float | None = None
    token_calls: int = 1
    userinfo_calls: int = 0
    pending_left: int = 0
    # An unknown state is an honest user's expired or evicted login, not a guess.
    state_unknown: bool = False

    @property
    def counted(self) -> bool:
        """Tell whether Home Assistant's IP-ban counter counts this refusal."""
        return not self.state_unknown and self.reason not in (
            "provider_unavailable",
            "access_denied",
        )


def id_token(id_: str, detail: str, knobs: Knobs, **more: Any) -> Attack:
    """An attack on the ID token: one token request, no UserInfo request."""
    return Attack(id=id_, knobs=knobs, detail=detail, **more)


def callback(id_: str, detail: str, knobs: Knobs, **more: Any) -> Attack:
    """An attack on the authorization response: no token request at all."""
    return Attack(id=id_, knobs=knobs, detail=detail, token_calls=0, **more)


def unavailable(id_: str, detail: str, knobs: Knobs, **more: Any) -> Attack:
    """A provider that fails on the back channel: 502, not counted as a wrong login."""
    return Attack(
        id=id_, knobs=knobs, detail=detail, reason="provider_unavailable", status=502, **more
    )


SIGNATURE_ATTACKS = [
    *(
        id_token(
            f"bad-signature-{alg}",
            "id_token_signature",
            {"sign_with": "corrupt-signature"},
            alg=alg,
        )
        for alg in ("RS256", "ES256", "EdDSA")
    ),
    *(
        id_token(
            f"unpublished-key-{alg}", "id_token_signature", {"sign_with": "other-key"}, alg=alg
        )
        for alg in ("RS256", "ES256", "EdDSA")
    ),
    id_token("alg-none", "id_token_alg", {"sign_with": "none"}),
    *(
        id_token(
            f"alg-{spelling}-header",
            "id_token_alg",
            {"sign_with": "none", "id_token_header_override": {"alg": spelling}},
        )
        for spelling in ("None", "NONE", "nOnE")
    ),
    id_token(
        "alg-none-real-signature", "id_token_alg", {"id_token_header_override": {"alg": "none"}}
    ),
    id_token("hs256-with-public-key", "id_token_alg", {"sign_with": "hs256-public-key"}),
    id_token(
        "hs256-with-public-key-advertised",
        "id_token_alg",
        {"sign_with": "hs256-public-key"},
        before_setup={
            "discovery_override": {"id_token_signing_alg_values_supported": ["RS256", "HS256"]}
        },
    ),
    id_token(
        "hs256-with-client-secret-not-selected",
        "id_token_alg",
        {"sign_with": "hs256-client-secret"},
        before_setup={
            "discovery_override": {"id_token_signing_alg_values_supported": ["RS256", "HS256"]}
        },
    ),
    id_token(
        "alg-not-allowed-by-settings",
        "id_token_alg",
        {},
        options={"id_token_signing_alg": "ES256"},
        before_setup={
            "discovery_override": {"id_token_signing_alg_values_supported": ["RS256", "ES256"]}
        },
    ),
    id_token(
        "alg-not-advertised",
        "id_token_alg",
        {"id_token_header_override": {"alg": "ES384"}},
        alg="ES256",
    ),
    id_token(
        "alg-swap-rs256-to-ps256",
        "id_token_kid",
        {"id_token_header_override": {"alg": "PS256"}},
        before_setup={
            "discovery_override": {"id_token_signing_alg_values_supported": ["RS256", "PS256"]}
        },
    ),
    id_token("key-published-for-encryption", "id_token_kid", {"sign_with": "enc-key"}),
    id_token("signing-key-use-enc", "jwks_empty", {"jwk_parameters_override": {"use": "enc"}}),
    id_token(
        "signing-key-ops-encrypt",
        "jwks_empty",
        {"jwk_parameters_override": {"key_ops": ["encrypt"]}},
    ),
    id_token("signing-key-with-private-members", "jwks_empty", {"jwk_include_private": True}),
    id_token(
        "jwks-symmetric-key-only",
        "jwks_empty",
        {
            "jwks_override": {
                "keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "kid": "k"}]
            }
        },
    ),
    id_token(
        "jwks-weak-rsa-key-only",
        "jwks_empty",
        lambda _: {"jwks_override": {"keys": [weak_rsa_jwk()]}},
    ),
    id_token(
        "missing-kid-several-keys",
        "id_token_kid",
        lambda _: {"id_token_header_remove": {"kid"}, "extra_jwks": [other_rsa_jwk()]},
    ),
    id_token("unknown-kid", "id_token_kid", {"id_token_header_override": {"kid": "no-such-key"}}),
    id_token("kid-not-a-string", "id_token_header", {"id_token_header_override": {"kid": 7}}),
    *(
        id_token(
            f"header-{name}",
            "id_token_header",
            {"sign_with": "other-key", "id_token_header_override": {name: value}},
        )
        for name, value in (
            ("jku", "https://evil.example.net/jwks.json"),
            ("x5u", "https://evil.example.net/cert.pem"),
            ("jwk", {"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            ("crit", ["exp"]),
            ("b64", False),
        )
    ),
    id_token(
        "header-x5c-ignored",
        "id_token_signature",
        {"sign_with": "other-key", "id_token_header_override": {"x5c": ["MIIBIjANBgkq"]}},
    ),
    id_token("encrypted-id-token", "id_token_invalid", {"id_token_raw": "a.b.c.d.e"}),
    id_token("id-token-garbage", "id_token_invalid", {"id_token_raw": "not-a-jwt"}),
    id_token(
        "id-token-claims-not-json",
        "id_token_invalid",
        lambda p: {"id_token_raw": p.sign_payload(b"not json")},
    ),
    id_token(
        "id-token-claims-array",
        "id_token_invalid",
        lambda p: {"id_token_raw": p.sign_payload(b"[]")},
    ),
    id_token(
        "id-token-duplicate-claim",
        "id_token_invalid",
        lambda p: {"id_token_raw": p.sign_payload(b'{"sub": "a", "sub": "b"}')},
    ),
]

CLAIM_ATTACKS = [
    id_token("iss-wrong", "id_token_issuer", {"id_token_claims_override": {"iss": EVIL}}),
    id_token("iss-missing", "id_token_issuer", {"id_token_claims_remove": {"iss"}}),
    id_token(
        "iss-trailing-slash",
        "id_token_issuer",
        lambda p: {"id_token_claims_override": {"iss": p.issuer + "/"}},
    ),
    id_token(
        "aud-wrong", "id_token_audience", {"id_token_claims_override": {"aud": "another-client"}}
    ),
    id_token("aud-missing", "id_token_audience", {"id_token_claims_remove": {"aud"}}),
    id_token(
        "aud-untrusted-extra",
        "id_token_audience",
        {"id_token_claims_override": {"aud": ["ha-client", "evil-client"]}},
    ),
    id_token("aud-not-a-string", "id_token_audience", {"id_token_claims_override": {"aud": 42}}),
    id_token("azp-mismatch", "id_token_azp", {"id_token_claims_override": {"azp": "evil-client"}}),
    id_token("sub-missing", "id_token_sub", {"id_token_claims_remove": {"sub"}}),
    id_token("sub-empty", "id_token_sub", {"id_token_claims_override": {"sub": ""}}),
    id_token("sub-too-long", "id_token_sub", {"id_token_claims_override": {"sub": "s" * 256}}),
    id_token("sub-not-ascii", "id_token_sub", {"id_token_claims_override": {"sub": "ünïcode"}}),
    id_token("sub-not-a-string", "id_token_sub", {"id_token_claims_override": {"sub": 42}}),
    id_token("exp-missing", "id_token_expired", {"id_token_claims_remove": {"exp"}}),
    id_token(
        "expired", "id_token_expired", lambda _: {"id_token_claims_override": {"exp": now() - 3600}}
    ),
    id_token(
        "exp-not-a-number", "id_token_expired", {"id_token_claims_override": {"exp": "tomorrow"}}
    ),
    id_token("iat-missing", "id_token_iat", {"id_token_claims_remove": {"iat"}}),
    id_token(
        "iat-future", "id_token_iat", lambda _: {"id_token_claims_override": {"iat": now() + 3600}}
    ),
    id_token(
        "iat-far-past",
        "id_token_iat",
        lambda _: {"id_token_claims_override": {"iat": now() - 7200, "exp": now() + 300}},
    ),
    id_token(
        "nbf-future", "id_token_nbf", lambda _: {"id_token_claims_override": {"nbf": now() + 3600}}
    ),
    id_token(
        "nonce-wrong", "id_token_nonce", {"id_token_claims_override": {"nonce": "attacker-nonce"}}
    ),
    id_token("nonce-missing", "id_token_nonce", {"id_token_claims_remove": {"nonce"}}),
    id_token("id-token-replayed", "id_token_nonce", {}, prepare=earlier_id_token),
    id_token(
        "at-hash-mismatch",
        "id_token_at_hash",
        {"id_token_claims_override": {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}},
    ),
    id_token(
        "provider-clock-ahead", "id_token_iat", lambda _: {"clock": lambda: time.time() + 3600}
    ),
    id_token(
        "provider-clock-behind", "id_token_expired", lambda _: {"clock": lambda: time.time() - 3600}
    ),
]

# UserInfo is only asked when the ID token lacks a configured claim (OIDC Core 1.0 §5.4).
PROFILE_ONLY_IN_USERINFO: dict[str, Any] = {"id_token_include_profile": False}
USERINFO_ATTACKS = [
    id_token(
        "userinfo-other-sub",
        "userinfo_sub_mismatch",
        {**PROFILE_ONLY_IN_USERINFO, "userinfo_override": {"sub": "someone-else"}},
        userinfo_calls=1,
    ),
    id_token(
        "userinfo-sub-missing",
        "userinfo_sub_mismatch",
        {**PROFILE_ONLY_IN_USERINFO, "userinfo_remove": {"sub"}},
        userinfo_calls=1,
    ),
    id_token(
        "userinfo-sub-not-a-string",
        "userinfo_sub_mismatch",
        {**PROFILE_ONLY_IN_USERINFO, "userinfo_override": {"sub": 1}},
        userinfo_calls=1,
    ),
    unavailable(
        "userinfo-not-json",
        "userinfo_failed",
        {**PROFILE_ONLY_IN_USERINFO, "userinfo_raw": b"<html>"},
        userinfo_calls=1,
    ),
    unavailable(
        "userinfo-signed-jwt",
        "userinfo_failed",
        {
            **PROFILE_ONLY_IN_USERINFO,
            "userinfo_raw": b"e30.e30.",
            "userinfo_content_type": "application/jwt",
        },
        userinfo_calls=1,
    ),
    unavailable(
        "userinfo-unauthorized",
        "userinfo_failed",
        {**PROFILE_ONLY_IN_USERINFO, "status": {"userinfo": 401}},
        userinfo_calls=1,
    ),
    unavailable(
        "userinfo-oversized",
        "response_too_large",
        {**PROFILE_ONLY_IN_USERINFO, "oversize": {"userinfo": TWO_MEGABYTES}},
        userinfo_calls=1,
    ),
    unavailable(
        "userinfo-oversized-chunked",
        "response_too_large",
        {
            **PROFILE_ONLY_IN_USERINFO,
            "oversize": {"userinfo": TWO_MEGABYTES},
            "oversize_chunked": True,
        },
        userinfo_calls=1,
    ),
    unavailable(
        "userinfo-slow",
        "timeout",
        {**PROFILE_ONLY_IN_USERINFO, "response_delay": {"userinfo": SLOW}},
        userinfo_calls=1,
        timeout=SHORT_TIMEOUT,
    ),
]

TOKEN_ATTACKS = [
    id_token(
        "token-response-not-json",
        "token_response_invalid",
        {"token_response_override": b"<html>ok</html>"},
    ),
    id_token("token-response-array", "token_response_invalid", {"token_response_override": b"[]"}),
    id_token("token-response-empty", "token_response_invalid", {"token_response_override": b""}),
    id_token(
        "token-response-duplicate-member",
        "token_response_invalid",
        {
            "token_response_override": b'{"access_token": "a", "access_token": "b", '
            b'"token_type": "Bearer", "id_token": "x"}'
        },
    ),
    id_token(
        "token-response-nan",
        "token_response_invalid",
        {"token_response_override": b'{"expires_in": NaN}'},
    ),
    id_token(
        "access-token-missing",
        "token_response_invalid",
        {"token_response_remove": {"access_token"}},
    ),
    id_token(
        "access-token-empty",
        "token_response_invalid",
        {"token_response_override": {"access_token": ""}},
    ),
    id_token("id-token-missing", "token_response_invalid", {"token_response_remove": {"id_token"}}),
    id_token(
        "id-token-not-a-string",
        "token_response_invalid",
        {"token_response_override": {"id_token": 42}},
    ),
    id_token(
        "token-type-not-bearer",
        "token_response_invalid",
        {"token_response_override": {"token_type": "mac"}},
    ),
    unavailable("token-server-error", "token_request_failed", {"status": {"token": 500}}),
    unavailable(
        "token-redirect-not-followed",
        "token_request_failed",
        lambda p: {"status": {"token": 307}, "redirects": {"token": p.url("token")}},
    ),
    unavailable("token-oversized", "response_too_large", {"oversize": {"token": TWO_MEGABYTES}}),
    unavailable(
        "token-oversized-chunked",
        "response_too_large",
        {"oversize": {"token": TWO_MEGABYTES}, "oversize_chunked": True},
    ),
    unavailable(
        "token-slow", "timeout", {"response_delay": {"token": SLOW}}, timeout=SHORT_TIMEOUT
    ),
    id_token("jwks-not-json", "jwks_invalid", {"jwks_override": b"not json"}),
    id_token("jwks-keys-not-array", "jwks_invalid", {"jwks_override": {"keys": {"kty": "RSA"}}}),
    unavailable("jwks-server-error", "jwks_unreachable", {"status": {"jwks": 500}}),
    unavailable("jwks-oversized", "response_too_large", {"oversize": {"jwks": TWO_MEGABYTES}}),
    unavailable(
        "jwks-oversized-chunked",
        "response_too_large",
        {"oversize": {"jwks": TWO_MEGABYTES}, "oversize_chunked": True},
    ),
    unavailable("jwks-slow", "timeout", {"response_delay": {"jwks": SLOW}}, timeout=SHORT_TIMEOUT),
]

PROVIDER_ERRORS = (
    "invalid_request",
    "unauthorized_client",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
    'bogus"><img src=x onerror=alert(1)>',
)

CALLBACK_ATTACKS = [
    callback(
        "state-missing",
        "missing parameter state",
        {"callback_params_override": {"state": None}},
        reason="invalid_request",
        pending_left=1,
    ),
    callback(
        "state-forged",
        "unknown or used state",
        {"callback_params_override": {"state": "forged-state"}},
        reason="login_expired",
        pending_left=1,
        state_unknown=True,
    ),
    callback(
        "state-duplicated",
        "malformed parameter state",
        lambda p: {"callback_extra_params": [("state", "forged-state")]},
        reason="invalid_request",
        pending_left=1,
    ),
    callback(
        "state-oversized",
        "malformed parameter state",
        {"callback_params_override": {"state": "s" * 3000}},
        reason="invalid_request",
        pending_left=1,
    ),
    callback(
        "code-duplicated",
        "callback_duplicate_param",
        {"callback_extra_params": [("code", "attacker-code")]},
    ),
    callback(
        "iss-duplicated",
        "callback_duplicate_param",
        lambda p: {"callback_extra_params": [("iss", p.issuer)]},
    ),
    callback("code-missing", "callback_missing_code", {"callback_params_override": {"code": None}}),
    callback("code-empty", "callback_missing_code", {"callback_params_override": {"code": ""}}),
    callback("rfc9207-iss-missing", "callback_iss", {"include_iss_in_callback": False}),
    callback("rfc9207-iss-wrong", "callback_iss", {"callback_params_override": {"iss": EVIL}}),
    callback(
        "rfc9207-iss-trailing-slash",
        "callback_iss",
        lambda p: {"callback_params_override": {"iss": p.issuer + "/"}},
    ),
    callback(
        "rfc9207-iss-wrong-not-advertised",
        "callback_iss",
        {"callback_params_override": {"iss": EVIL}},
        before_setup={
            "discovery_override": {"authorization_response_iss_parameter_supported": False}
        },
    ),
    callback(
        "error-with-wrong-iss",
        "callback_iss",
        {"callback_error": "access_denied", "callback_params_override": {"iss": EVIL}},
    ),
    callback(
        "provider-error-access_denied",
        "provider_error",
        {"callback_error": "access_denied"},
        reason="access_denied",
    ),
    *(
        callback(
            f"provider-error-{error}",
            "provider_error",
            {"callback_error": error},
            reason="provider_error",
        )
        for error in PROVIDER_ERRORS
    ),
    callback(
        "provider-error-description-not-reflected",
        "provider_error",
        {
            "callback_error": "server_error",
            "callback_extra_params": [("error_description", "<img src=x onerror=alert(1)>")],
        },
        reason="provider_error",
    ),
]

ALL_LOGIN_ATTACKS = [
    *SIGNATURE_ATTACKS,
    *CLAIM_ATTACKS,
    *USERINFO_ATTACKS,
    *TOKEN_ATTACKS,
    *CALLBACK_ATTACKS,
]


@asynccontextmanager
async def attacked_harness(
    hass: HomeAssistant, hass_client_no_auth: Any, attack: Attack
) -> AsyncIterator[Harness]:
    """Set up the integration against a provider that misbehaves as the attack says."""
    async with FakeProvider.running(alg=attack.alg) as provider:
        provider.user = dict(USER)
        apply_knobs(provider, attack.before_setup)
        harness = await setup_harness(hass, hass_client_no_auth, provider, **attack.options)
        # After the set-up's warm-up, start from empty caches: the knobs reach the first fetch.
        await hass.async_block_till_done(wait_background_tasks=True)
        harness.replace_client(**({} if attack.timeout is None else {"timeout": attack.timeout}))
        if attack.prepare is not None:
            await attack.prepare(harness)
        apply_knobs(provider, attack.knobs)
        yield harness


@pytest.mark.parametrize("attack", ALL_LOGIN_ATTACKS, ids=lambda attack: attack.id)
async def test_refused_login(hass: HomeAssistant, hass_client_no_auth: Any, attack: Attack) -> None:
    async with attacked_harness(hass, hass_client_no_auth, attack) as harness:
        provider = harness.provider
        before = await harness.side_effects()
        attempts = harness.failed_login_attempts()
        calls_before = Counter(provider.requests)

        response = await harness.login()

        page = await assert_error_page(
            response,
            status=attack.status,
            reason=attack.reason,
            detail=attack.detail,
            secrets=response_secrets(provider),
        )
        assert "alert(1)" not in page
        after = await harness.side_effects()
        assert after.durable == before.durable
        assert after.auth_codes == before.auth_codes
        assert after.pending_logins == attack.pending_left
        calls = Counter(provider.requests)
        calls.subtract(calls_before)
        assert calls["token"] == attack.token_calls
        assert calls["userinfo"] == attack.userinfo_calls
        assert harness.failed_login_attempts() == attempts + attack.counted


# aiohttp's access log (logger "aiohttp.access", INFO, off at Home Assistant's default level)
# records every request line, like a reverse proxy's access log: a provider that returns the
# code in the query (response_mode=query) cannot keep it out of that. Everything else must.
SERVER_ACCESS_LOG = "aiohttp.access"


@pytest.mark.parametrize("attack", ALL_LOGIN_ATTACKS, ids=lambda attack: attack.id)
async def test_refused_login_leaves_no_secret_in_logs_or_notifications(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    attack: Attack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Issue #14.4: Home Assistant's failed-login counter logs the requested URL.
    caplog.set_level(logging.DEBUG)
    async with attacked_harness(hass, hass_client_no_auth, attack) as harness:
        started = await harness.start()
        assert started.status == 302, await started.text()
        authorization = parse_qs(urlsplit(started.headers["Location"]).query)
        pending = hass.data[DATA_DOMAIN].pending_logins.peek(authorization["state"][0])
        assert pending is not None
        query = await harness.provider.authorize(started.headers["Location"])
        response = await harness.callback(query)
        assert response.status == attack.status, await response.text()

        secrets = [
            *response_secrets(harness.provider),
            *(value for name in ("code", "state") for value in query.getall(name, [])),
            pending.authorization.state,
            pending.authorization.nonce,
            pending.authorization.code_verifier or "",
            VERIFIER,
        ]
        secrets = [secret for secret in secrets if len(secret) >= 8]
        records = [
            record
            for record in caplog.records
            if record.name != SERVER_ACCESS_LOG or "/auth/oidc/callback" not in record.getMessage()
        ]
        # Formatted with the exception text and stack, as a log file would show them.
        formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
        texts = [formatter.format(record) for record in records]
        notifications = persistent_notification._async_get_or_create_notifications(hass)
        texts.extend(f"{item['title']} {item['message']}" for item in notifications.values())
        assert any("Login attempt" in text for text in texts) == attack.counted
        leaked = [(secret, text) for secret in secrets for text in texts if secret in text]
        assert not leaked


DISCOVERY_ATTACKS: list[tuple[str, Knobs, str]] = [
    ("issuer-mismatch", {"discovery_override": {"issuer": EVIL}}, "discovery_issuer_mismatch"),
    (
        "issuer-prefix",
        lambda p: {"discovery_override": {"issuer": p.issuer + "/tenant"}},
        "discovery_issuer_mismatch",
    ),
    *(
        (
            f"{name}-plain-http",
            {"discovery_override": {name: "http://idp.example.net/endpoint"}},
            # The page names the endpoint and says how to allow plain http (provider_insecure).
            f"{name} http://idp.example.net/endpoint is not https",
        )
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint")
    ),
    (
        "endpoint-with-fragment",
        lambda p: {"discovery_override": {"token_endpoint": p.url("token") + "#x"}},
        "discovery_invalid",
    ),
    ("jwks-uri-missing", {"discovery_remove": {"jwks_uri"}}, "discovery_invalid"),
    ("pkce-plain-only", {"accepted_pkce_methods": {"plain"}}, "discovery_no_s256"),
    (
        "alg-none-only",
        {"discovery_override": {"id_token_signing_alg_values_supported": ["none"]}},
        "discovery_no_usable_alg",
    ),
    (
        "hs256-only",
        {"discovery_override": {"id_token_signing_alg_values_supported": ["HS256"]}},
        "discovery_no_usable_alg",
    ),
    (
        "implicit-only",
        {"discovery_override": {"response_types_supported": ["id_token", "id_token token"]}},
        "discovery_no_code_flow",
    ),
    (
        "no-code-grant",
        {"discovery_override": {"grant_types_supported": ["implicit"]}},
        "discovery_no_code_flow",
    ),
    (
        "no-usable-client-auth",
        {"discovery_override": {"token_endpoint_auth_methods_supported": ["private_key_jwt"]}},
        "discovery_no_auth_method",
    ),
    (
        "iss-flag-not-boolean",
        {"discovery_override": {"authorization_response_iss_parameter_supported": "yes"}},
        "discovery_invalid",
    ),
    ("not-json", {"discovery_raw": b"<html>"}, "discovery_not_json"),
    ("json-array", {"discovery_raw": b"[]"}, "discovery_not_json"),
    ("server-error", {"status": {"discovery": 500}}, "discovery_http_status"),
    ("oversized", {"oversize": {"discovery": TWO_MEGABYTES}}, "response_too_large"),
    (
        "oversized-chunked",
        {"oversize": {"discovery": TWO_MEGABYTES}, "oversize_chunked": True},
        "response_too_large",
    ),
]


@pytest.mark.parametrize(
    ("knobs", "detail"),
    [pytest.param(knobs, detail, id=id_) for id_, knobs, detail in DISCOVERY_ATTACKS],
)
async def test_unacceptable_discovery_never_starts_a_login(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, knobs: Knobs, detail: str
) -> None:
    apply_knobs(provider, knobs)
    harness = await setup_harness(hass, hass_client_no_auth, provider)
    before = await harness.side_effects()
    attempts = harness.failed_login_attempts()

    response = await harness.start()

    insecure = detail.endswith("is not https")
    await assert_error_page(
        response,
        status=503,
        reason="provider_insecure" if insecure else "provider_unavailable",
        detail=detail,
        secrets=response_secrets(provider),
    )
    assert await harness.side_effects() == before
    assert provider.requests["authorize"] == provider.requests["token"] == 0
    assert harness.failed_login_attempts() == attempts
    welcome = await harness.client.get("/auth/oidc/welcome", params=authorize_query())
    assert welcome.status == 200
    assert "cannot be reached right now" in await welcome.text()


async def test_slow_discovery_times_out(harness: Harness, provider: FakeProvider) -> None:
    provider.response_delay["discovery"] = SLOW
    harness.replace_client(timeout=SHORT_TIMEOUT)
    response = await harness.start()
    await assert_error_page(response, status=503, reason="provider_unavailable", detail="timeout")
    assert (await harness.side_effects()).pending_logins == 0


async def test_pkce_s256_is_sent_when_discovery_does_not_advertise_it(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    provider.discovery_remove = {"code_challenge_methods_supported"}
    harness = await setup_harness(hass, hass_client_no_auth, provider)
    await harness.login_ok()
    (request,) = provider.authorization_requests
    assert request["code_challenge_method"] == "S256"
    assert "code_verifier" in provider.token_requests[0]["form"]


async def test_rfc9207_iss_may_be_absent_when_not_advertised(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    provider.discovery_override = {"authorization_response_iss_parameter_supported": False}
    provider.include_iss_in_callback = False
    harness = await setup_harness(hass, hass_client_no_auth, provider)
    await harness.login_ok()


async def test_missing_kid_with_a_single_key_is_accepted(
    harness: Harness, provider: FakeProvider
) -> None:
    provider.id_token_header_remove = {"kid"}
    await harness.login_ok()


async def test_unknown_kid_refetches_the_jwks_at_most_once(
    harness: Harness, provider: FakeProvider
) -> None:
    clock = FakeClock()
    harness.replace_client(monotonic=clock)
    warm_up = provider.requests["jwks"]
    await harness.login_ok()
    assert provider.requests["jwks"] == warm_up + 1
    clock.advance(61)  # past the refetch rate limit
    provider.id_token_header_override = {"kid": "no-such-key"}
    for _ in range(5):
        response = await harness.login()
        await assert_error_page(
            response, status=400, reason="verification_failed", detail="id_token_kid"
        )
    assert provider.requests["jwks"] == warm_up + 2


@pytest.mark.parametrize("keep_old", [False, True])
async def test_key_rotation_next_login_works(
    harness: Harness, provider: FakeProvider, keep_old: bool
) -> None:
    clock = FakeClock()
    harness.replace_client(monotonic=clock)
    warm_up = provider.requests["jwks"]
    await harness.login_ok()
    provider.rotate_keys(keep_old=keep_old)
    clock.advance(61)
    await harness.login_ok()
    assert provider.requests["jwks"] == warm_up + 2


async def test_key_rotation_within_the_refetch_interval_fails_closed_then_recovers(
    harness: Harness, provider: FakeProvider
) -> None:
    clock = FakeClock()
    harness.replace_client(monotonic=clock)
    warm_up = provider.requests["jwks"]
    await harness.login_ok()
    provider.rotate_keys()
    response = await harness.login()
    await assert_error_page(
        response, status=400, reason="verification_failed", detail="id_token_kid"
    )
    assert provider.requests["jwks"] == warm_up + 1
    clock.advance(61)
    await harness.login_ok()


async def test_callback_opened_in_another_browser_is_refused(
    harness: Harness, new_browser: Any, provider: FakeProvider
) -> None:
    query = await harness.start_at_provider()
    attacker = await new_browser(harness)
    before = await harness.side_effects()
    response = await harness.callback(query, attacker)
    await assert_error_page(
        response, status=400, reason="login_expired", detail="started in another browser"
    )
    assert (await harness.side_effects()).durable == before.durable
    assert provider.requests["token"] == 0
    assert not harness.issued_codes


async def test_callback_from_another_browser_does_not_consume_the_victims_login(
    harness: Harness, new_browser: Any
) -> None:
    query = await harness.start_at_provider()
    refused = await harness.callback(query, await new_browser(harness))
    assert refused.status == 400
    response = await harness.callback(query)
    assert response.status == 302, await response.text()


@pytest.mark.parametrize("cookie_value", ["", "forged", "A" * 43])
async def test_callback_with_a_forged_binding_cookie_is_refused(
    harness: Harness, new_browser: Any, provider: FakeProvider, cookie_value: str
) -> None:
    query = await harness.start_at_provider()
    attacker = await new_browser(harness)
    response = await harness.callback(
        query, attacker, headers={"Cookie": f"{binding_cookie_name(query['state'])}={cookie_value}"}
    )
    await assert_error_page(response, status=400, reason="login_expired")
    assert provider.requests["token"] == 0
    assert not harness.issued_codes


async def test_replayed_callback_is_refused(harness: Harness, provider: FakeProvider) -> None:
    query = await harness.start_at_provider()
    assert (await harness.callback(query)).status == 302
    before = await harness.side_effects()
    response = await harness.callback(query)
    await assert_error_page(
        response, status=400, reason="login_expired", detail="unknown or used state"
    )
    assert await harness.side_effects() == before
    assert provider.requests["token"] == 1


async def test_code_from_another_login_session_is_refused(
    harness: Harness, new_browser: Any, provider: FakeProvider
) -> None:
    victim = await harness.start_at_provider()
    attacker = await harness.start_at_provider(await new_browser(harness))
    before = await harness.side_effects()
    response = await harness.callback({**victim, "code": attacker["code"]})
    page = await response.text()
    assert 400 <= response.status < 600, page
    assert "Location" not in response.headers
    after = await harness.side_effects()
    assert (after.durable, after.auth_codes) == (before.durable, before.auth_codes)
    # RFC 7636: the provider refused the injected code; no ID token was ever accepted.
    assert provider.requests["token"] == 1
    assert not provider.token_responses
    assert provider.requests["userinfo"] == 0


@pytest.mark.parametrize("source", ["other-session", "forged"])
async def test_injected_code_is_a_verification_failure_that_counts(
    harness: Harness, new_browser: Any, source: str
) -> None:
    victim = await harness.start_at_provider()
    if source == "other-session":
        code = (await harness.start_at_provider(await new_browser(harness)))["code"]
    else:
        code = "forged-code-" + "x" * 30
    attempts = harness.failed_login_attempts()
    response = await harness.callback({**victim, "code": code})
    await assert_error_page(response, status=400, reason="verification_failed")
    assert harness.failed_login_attempts() == attempts + 1


async def test_code_injection_without_pkce_is_caught_by_the_nonce(
    hass: HomeAssistant, hass_client_no_auth: Any, new_browser: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, features={"disable_rfc7636": True}
    )
    victim = await harness.start_at_provider()
    attacker = await harness.start_at_provider(await new_browser(harness))
    response = await harness.callback({**victim, "code": attacker["code"]})
    await assert_error_page(
        response, status=400, reason="verification_failed", detail="id_token_nonce"
    )
    assert provider.requests["userinfo"] == 0
    assert not harness.issued_codes


async def test_mix_up_callback_from_another_configured_provider_is_refused(
    hass: HomeAssistant, hass_client_no_auth: Any, new_browser: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(hass, hass_client_no_auth, provider)
    async with FakeProvider.running(alg="ES256") as honest:
        honest.user = dict(USER)
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Other",
            unique_id=honest.issuer,
            data=SETTINGS_SCHEMA(
                {
                    "client_id": honest.client_id,
                    "discovery_url": honest.discovery_url,
                    "display_name": "Other",
                }
            ),
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        # The attacker's provider answers the victim's login at the honest provider.
        started = await harness.client.post(
            "/auth/oidc/redirect",
            data={**authorize_query(), "entry_id": entry.entry_id},
            allow_redirects=False,
        )
        assert started.status == 302
        honest_query = await honest.authorize(started.headers["Location"])
        attacker_code = (await harness.start_at_provider(await new_browser(harness)))["code"]
        response = await harness.callback(
            {**honest_query, "code": attacker_code, "iss": provider.issuer}
        )
        await assert_error_page(
            response, status=400, reason="verification_failed", detail="callback_iss"
        )
        assert honest.requests["token"] == provider.requests["token"] == 0
        assert not harness.issued_codes
        # The same sub at two issuers is two people.
        first = await harness.login_ok()
        honest.user = {**honest.user, "sub": provider.user["sub"]}
        started = await harness.client.post(
            "/auth/oidc/redirect",
            data={**authorize_query(), "entry_id": entry.entry_id},
            allow_redirects=False,
        )
        response = await harness.callback(await honest.authorize(started.headers["Location"]))
        second = await harness.redeem(response.headers["Location"])
        first_token = hass.auth.async_get_refresh_token_by_token(first["refresh_token"])
        second_token = hass.auth.async_get_refresh_token_by_token(second["refresh_token"])
        assert first_token is not None
        assert second_token is not None
        assert first_token.user.id != second_token.user.id


# -- open redirects -------------------------------------------------------------------------

BAD_CLIENTS: list[tuple[str, str, str, str]] = [
    ("redirect-other-host", CLIENT_ID, EVIL_CALLBACK, "invalid_redirect_uri"),
    ("redirect-scheme-relative", CLIENT_ID, "//evil.example.net/steal", "invalid_redirect_uri"),
    (
        "redirect-userinfo-trick",
        CLIENT_ID,
        "https://ha.example.com@evil.example.net/",
        "invalid_redirect_uri",
    ),
    (
        "redirect-backslash-trick",
        CLIENT_ID,
        "https://evil.example.net\\@ha.example.com/",
        "invalid_redirect_uri",
    ),
    (
        "redirect-suffix-host",
        CLIENT_ID,
        "https://ha.example.com.evil.example.net/",
        "invalid_redirect_uri",
    ),
    (
        "redirect-http-downgrade",
        CLIENT_ID,
        "http://ha.example.com/?auth_callback=1",
        "invalid_redirect_uri",
    ),
    ("redirect-other-port", CLIENT_ID, "https://ha.example.com:8443/", "invalid_redirect_uri"),
    ("redirect-javascript", CLIENT_ID, "javascript:alert(1)", "invalid_redirect_uri"),
    (
        "redirect-data",
        CLIENT_ID,
        "data:text/html;base64,PGgxPng8L2gxPg==",
        "invalid_redirect_uri",
    ),
    ("client-javascript", "javascript:alert(1)", REDIRECT_URI, "invalid_request"),
    ("client-with-credentials", "https://user:pw@ha.example.com/", REDIRECT_URI, "invalid_request"),
    ("client-with-fragment", "https://ha.example.com/#x", REDIRECT_URI, "invalid_request"),
    ("client-relative", "/relative", REDIRECT_URI, "invalid_request"),
    ("client-dot-segments", "https://ha.example.com/a/./b", REDIRECT_URI, "invalid_request"),
]


@pytest.mark.parametrize(
    "bad_client",
    [pytest.param((c, r, reason), id=id_) for id_, c, r, reason in BAD_CLIENTS],
)
async def test_no_open_redirect_through_client_parameters(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    bad_client: tuple[str, str, str],
) -> None:
    client_id, redirect_uri, reason = bad_client
    harness = await setup_harness(hass, hass_client_no_auth, provider, frontend=True)
    query = authorize_query(client_id=client_id, redirect_uri=redirect_uri)
    for endpoint in ("welcome", "redirect", "authorize"):
        if endpoint == "redirect":
            response = await harness.client.post(
                "/auth/oidc/redirect",
                data={**query, "entry_id": harness.entry_id},
                allow_redirects=False,
            )
        else:
            path = "/auth/oidc/welcome" if endpoint == "welcome" else "/auth/authorize"
            response = await harness.client.get(path, params=query, allow_redirects=False)
        if endpoint == "authorize":
            # Home Assistant's login page is only ever sent to our own welcome page.
            assert response.status == 302
            location = response.headers["Location"]
            assert is_same_origin_path(location)
            assert location.startswith("/auth/oidc/welcome?")
            response = await harness.client.get(location, allow_redirects=False)
        page = await assert_error_page(response, status=400, reason=reason)
        assert "evil.example.net" not in " ".join(page_links(page)), endpoint
    assert (await harness.side_effects()).pending_logins == 0
    assert provider.requests["authorize"] == 0


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"client_id": CLIENT_ID},
        authorize_query(),
        {**authorize_query(), "state": "https://evil.example.net/"},
        {"next": EVIL, "redirect": EVIL, "return_to": EVIL},
    ],
)
async def test_authorize_interception_stays_same_origin(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, query: dict[str, str]
) -> None:
    harness = await setup_harness(hass, hass_client_no_auth, provider, frontend=True)
    response = await harness.client.get("/auth/authorize", params=query, allow_redirects=False)
    assert response.status == 302
    assert is_same_origin_path(response.headers["Location"])


async def test_error_page_links_for_a_valid_client_stay_same_origin(
    harness: Harness, provider: FakeProvider
) -> None:
    provider.callback_error = "server_error"
    page = await assert_error_page(await harness.login(), status=400, reason="provider_error")
    links = page_links(page)
    assert any(link.startswith("/auth/oidc/welcome?") for link in links)
    assert any("skip_oidc_redirect=true" in link for link in links)


# -- identity confusion ---------------------------------------------------------------------


MALLORY = {
    "sub": "attacker-sub",
    "name": "Mallory",
    "preferred_username": "mallory",
    "email": "mallory@example.net",
    "groups": ["admins"],
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(({}, {"preferred_username": "alice"}), id="username"),
        pytest.param(({}, {"preferred_username": "ALICE"}), id="username-upper-case"),
        pytest.param(({}, {"preferred_username": " alice "}), id="username-spaces"),
        pytest.param(
            ({"claims": {"username": "email"}}, {"email": "alice"}), id="email-as-username"
        ),
        pytest.param(({}, {"email": "alice@example.com"}), id="email"),
        pytest.param(({}, {"name": "Alice Local"}), id="display-name"),
        pytest.param(
            (
                {},
                {
                    "preferred_username": "alice",
                    "email": "alice@example.com",
                    "name": "Alice Local",
                },
            ),
            id="whole-profile",
        ),
    ],
)
async def test_matching_username_or_email_never_logs_in_as_an_existing_user(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    local_auth: Any,
    provider: FakeProvider,
    case: tuple[dict[str, Any], dict[str, str]],
) -> None:
    options, claims = case
    harness = await setup_harness(hass, hass_client_no_auth, provider, **options)
    existing = await local_user(hass, local_auth, "alice", "Alice Local")
    provider.user = {**MALLORY, **claims}
    tokens = await harness.login_ok()
    token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert token is not None
    assert token.user.id != existing.id
    assert [c.auth_provider_type for c in token.user.credentials] == [DOMAIN]
    refreshed = await hass.auth.async_get_user(existing.id)
    assert refreshed is not None
    assert [c.auth_provider_type for c in refreshed.credentials] == ["homeassistant"]
    assert refreshed.name == "Alice Local"
    assert not refreshed.refresh_tokens


async def test_same_profile_with_another_sub_is_another_user(
    harness: Harness, hass: HomeAssistant, provider: FakeProvider
) -> None:
    first = await harness.login_ok()
    provider.user = {**provider.user, "sub": "impostor-sub"}
    second = await harness.login_ok()
    first_token = hass.auth.async_get_refresh_token_by_token(first["refresh_token"])
    second_token = hass.auth.async_get_refresh_token_by_token(second["refresh_token"])
    assert first_token is not None
    assert second_token is not None
    assert first_token.user.id != second_token.user.id


async def test_userinfo_cannot_change_the_identity_key(
    hass: HomeAssistant, harness: Harness, provider: FakeProvider
) -> None:
    provider.userinfo_override = {"iss": EVIL, "aud": "x", "nonce": "x", "exp": 1}
    provider.id_token_include_profile = False
    tokens = await harness.login_ok()
    assert provider.requests["userinfo"] == 1
    token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert token is not None
    (credentials,) = token.user.credentials
    assert credentials.auth_provider_id == provider.issuer
    assert credentials.data["sub"] == provider.user["sub"]


async def test_automatic_user_linking_is_opt_in_and_links_by_username(
    hass: HomeAssistant, hass_client_no_auth: Any, local_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, features={"automatic_user_linking": True}
    )
    existing = await local_user(hass, local_auth, "alice", "Alice Local")
    tokens = await harness.login_ok()
    token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert token is not None
    assert token.user.id == existing.id


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        ("inactive", "account_disabled"),
        ("local_only", "account_local_only"),
        ("local_only_cloud", "account_local_only_cloud"),
    ],
)
async def test_blocked_home_assistant_user_is_refused(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, block: str, reason: str
) -> None:
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        http={"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]},
    )
    tokens = await harness.login_ok()
    token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert token is not None
    if block == "inactive":
        await hass.auth.async_update_user(token.user, is_active=False)
    else:
        await hass.auth.async_update_user(token.user, local_only=True)
    internet = {"X-Forwarded-For": "203.0.113.9"}
    before = await harness.side_effects()
    with patch(
        "homeassistant.components.http.auth_util.is_cloud_connection",
        return_value=block == "local_only_cloud",
    ):
        response = await harness.login(headers=internet)
    await assert_error_page(response, status=403, reason=reason)
    assert await harness.side_effects() == before


async def test_login_flow_context_cannot_be_injected(
    harness: Harness, hass: HomeAssistant, provider: FakeProvider
) -> None:
    users = len(await hass.auth.async_get_users())
    flow = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "handler": [DOMAIN, provider.issuer],
    }
    # Home Assistant builds the flow context from fixed fields: extra members cannot reach it.
    smuggled = await harness.client.post(
        "/auth/login_flow",
        json={**flow, CONTEXT_IDENTITY: {"issuer": provider.issuer, "subject": "admin"}},
    )
    assert smuggled.status == 400
    # A well-formed start reaches our OIDCLoginFlow, which aborts without a verified identity.
    started = await harness.client.post("/auth/login_flow", json=flow)
    assert started.status == 200, await started.text()
    result = await started.json()
    assert result["type"] == "abort"
    assert result["handler"] == [DOMAIN, provider.issuer]
    assert result["reason"] == "use_login_page"
    # The aborted flow is gone: the identity cannot be posted as a later step either.
    step = await harness.client.post(
        f"/auth/login_flow/{result['flow_id']}",
        json={
            "client_id": CLIENT_ID,
            CONTEXT_IDENTITY: {"issuer": provider.issuer, "subject": "admin"},
            "sub": "admin",
        },
    )
    assert step.status == 404
    assert not hass.auth.login_flow.async_progress()
    assert len(await hass.auth.async_get_users()) == users
    assert not harness.issued_codes


# -- IP ban ---------------------------------------------------------------------------------


async def test_refused_logins_get_the_address_banned(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, http={"login_attempts_threshold": 3}
    )
    with patch("homeassistant.components.http.ban.IpBanManager._add_ban") as write_ban:
        provider.id_token_claims_override = {"aud": "another-client"}
        for _ in range(3):
            assert (await harness.login()).status == 400
        assert write_ban.call_count == 1
    assert harness.hass.http.app[KEY_BAN_MANAGER].ip_bans_lookup
    assert (await harness.client.get("/auth/oidc/welcome", params=authorize_query())).status == 403
    assert (await harness.start()).status == 403


async def test_refused_callback_is_counted_without_logging_its_code_or_state(
    harness: Harness, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider.id_token_claims_override = {"aud": "another-client"}
    query = await harness.start_at_provider()
    attempts = harness.failed_login_attempts()
    await assert_error_page(await harness.callback(query), status=400, reason="verification_failed")
    assert harness.failed_login_attempts() == attempts + 1
    # aiohttp's access log (INFO, off by default in Home Assistant) is not Home Assistant's.
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name != "aiohttp.access"
    )
    assert "Requested URL: '/auth/oidc/callback'" in logged
    assert query["code"] not in logged
    assert query["state"] not in logged


async def test_refused_login_behind_a_trusted_proxy_counts_for_the_client_address(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        http={"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]},
    )
    client = {"X-Forwarded-For": "198.51.100.7"}
    provider.id_token_claims_override = {"aud": "another-client"}
    assert (await harness.login(headers=client)).status == 400
    attempts = hass.http.app[KEY_FAILED_LOGIN_ATTEMPTS]
    assert attempts.get(ip_address("198.51.100.7")) == 1
    assert harness.failed_login_attempts() == 0  # not the proxy's address


async def test_successful_login_resets_the_failed_login_counter(
    harness: Harness, provider: FakeProvider
) -> None:
    provider.id_token_claims_override = {"aud": "another-client"}
    assert (await harness.login()).status == 400
    assert harness.failed_login_attempts() == 1
    provider.id_token_claims_override = {}
    await harness.login_ok()
    assert harness.failed_login_attempts() == 0


async def test_callback_of_an_unknown_or_evicted_login_is_not_a_failed_login(
    harness: Harness, provider: FakeProvider
) -> None:
    # Issue #14.5: whoever evicts pending logins must not get their owners' addresses banned.
    query = await harness.start_at_provider()
    harness.hass.data[DATA_DOMAIN].pending_logins.take(query["state"])  # evicted
    response = await harness.callback(query)
    await assert_error_page(
        response, status=400, reason="login_expired", detail="unknown or used state"
    )
    assert harness.failed_login_attempts() == 0


# -- third-party clients and login CSRF -------------------------------------------------------


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _VisibleText()
    parser.feed(page)
    return " ".join(parser.parts)


async def test_third_party_client_login_reaches_only_its_own_verified_redirect_uri(
    harness: Harness, provider: FakeProvider
) -> None:
    response = await harness.login(client_id=EVIL, redirect_uri=EVIL_CALLBACK)
    assert response.status == 302
    assert response.headers["Location"].startswith(EVIL_CALLBACK + "?code=")


async def test_registered_cross_origin_redirect_uri_is_accepted_and_named(
    harness: Harness, registered_client: ClientApp
) -> None:
    client_id = registered_client.client_id
    welcome = await harness.client.get(
        "/auth/oidc/welcome", params=registered_client_query(registered_client)
    )
    page = await welcome.text()
    assert welcome.status == 200, page
    assert registered_client.fetches == 1  # Home Assistant read the client's page
    # A third party: the page names it and offers no "Keep me logged in" of the frontend.
    assert client_id in visible_text(page)
    assert 'name="store_token"' not in page
    response = await harness.login(client_id=client_id, redirect_uri=REGISTERED_REDIRECT_URI)
    assert response.status == 302, await response.text()
    location = response.headers["Location"]
    assert location.startswith(REGISTERED_REDIRECT_URI + "?code=")
    assert "storeToken" not in location
    assert parse_qs(urlsplit(location).query)["state"] == [CLIENT_STATE]
    # Home Assistant's token endpoint redeems the code for that client.
    redeemed = await harness.client.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": parse_qs(urlsplit(location).query)["code"][0],
            "code_verifier": VERIFIER,
        },
    )
    assert redeemed.status == 200, await redeemed.text()


@pytest.mark.parametrize(
    "redirect_uri",
    [
        pytest.param("https://app.example.org/oauth/other", id="other-path"),
        pytest.param(REGISTERED_REDIRECT_URI + "/", id="trailing-slash"),
        pytest.param(REGISTERED_REDIRECT_URI + "?next=" + EVIL, id="extra-query"),
        pytest.param("http://app.example.org/oauth/callback", id="http-downgrade"),
        pytest.param("https://app.example.org.evil.example.net/oauth/callback", id="suffix-host"),
        pytest.param(EVIL_CALLBACK, id="other-host"),
    ],
)
async def test_unregistered_redirect_uri_of_a_registering_client_is_refused(
    harness: Harness, provider: FakeProvider, registered_client: ClientApp, redirect_uri: str
) -> None:
    query = registered_client_query(registered_client, redirect_uri=redirect_uri)
    welcome = await harness.client.get("/auth/oidc/welcome", params=query)
    await assert_error_page(welcome, status=400, reason="invalid_redirect_uri")
    started = await harness.start(client_id=registered_client.client_id, redirect_uri=redirect_uri)
    await assert_error_page(started, status=400, reason="invalid_redirect_uri")
    assert registered_client.fetches == 2  # refused after reading the client's page, each time
    assert (await harness.side_effects()).pending_logins == 0
    assert provider.requests["authorize"] == 0


async def test_redirect_uri_unregistered_during_the_login_gets_no_code(
    harness: Harness, registered_client: ClientApp
) -> None:
    query = await harness.start_at_provider(
        client_id=registered_client.client_id, redirect_uri=REGISTERED_REDIRECT_URI
    )
    registered_client.redirect_uris.clear()
    response = await harness.callback(query)
    # Checked again before the code is issued, as Home Assistant's login view does.
    await assert_error_page(response, status=403, reason="invalid_redirect_uri")
    assert not harness.issued_codes


async def test_welcome_page_names_a_third_party_client(harness: Harness) -> None:
    response = await harness.client.get(
        "/auth/oidc/welcome", params=authorize_query(client_id=EVIL, redirect_uri=EVIL_CALLBACK)
    )
    assert response.status == 200
    assert "evil.example.net" in visible_text(await response.text())


async def test_default_redirect_does_not_skip_consent_for_a_third_party_client(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, features={"default_redirect": True}
    )
    response = await harness.client.get(
        "/auth/oidc/welcome",
        params=authorize_query(client_id=EVIL, redirect_uri=EVIL_CALLBACK),
        allow_redirects=False,
    )
    assert response.status == 200


ATTACKER = "https://attacker.example/"


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://attacker.example/x?auth_callback=1", "https://attacker.example/?auth_callback=1"],
)
async def test_default_redirect_does_not_skip_consent_for_a_client_shaped_like_the_frontend(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, redirect_uri: str
) -> None:
    # Issue #14.1: the frontend's request shape (client_id path "/", auth_callback=1 on the
    # same origin) is easy to copy; only this Home Assistant's own origin is the frontend.
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, features={"default_redirect": True}
    )
    response = await harness.client.get(
        "/auth/oidc/welcome",
        params=authorize_query(client_id=ATTACKER, redirect_uri=redirect_uri),
        allow_redirects=False,
    )
    page = await response.text()
    assert response.status == 200, response.headers.get("Location")
    assert re.search(r'id="client-host">attacker\.example<', page), page
    assert 'name="store_token"' not in page
    assert len(hass.data[DATA_DOMAIN].pending_logins) == 0


async def test_keep_me_logged_in_is_not_handed_to_a_client_shaped_like_the_frontend(
    harness: Harness, provider: FakeProvider
) -> None:
    redirect_uri = "https://attacker.example/x?auth_callback=1"
    response = await harness.login(
        client_id=ATTACKER, redirect_uri=redirect_uri, store_token="true"
    )
    assert response.status == 302, await response.text()
    location = response.headers["Location"]
    assert location.startswith(redirect_uri + "&code=")
    assert "storeToken" not in parse_qs(urlsplit(location).query)


async def test_default_redirect_skips_the_welcome_page_for_the_frontend_at_the_requested_origin(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, features={"default_redirect": True}
    )
    # No configured URL names this origin: the browser reached Home Assistant here.
    origin = str(harness.client.make_url("/"))
    response = await harness.client.get(
        "/auth/oidc/welcome",
        params=authorize_query(client_id=origin, redirect_uri=f"{origin}?auth_callback=1"),
        allow_redirects=False,
    )
    assert response.status == 302
    assert response.headers["Location"].startswith(provider.issuer)


@pytest.mark.parametrize(
    "cross_site",
    [
        pytest.param(
            {"Origin": "https://evil.example.net", "Sec-Fetch-Site": "cross-site"},
            id="fetch-metadata",
        ),
        # Browsers without Fetch Metadata (e.g. Safari before 16.4) send only Origin.
        pytest.param({"Origin": "https://evil.example.net"}, id="origin-only"),
    ],
)
async def test_cross_site_start_for_a_third_party_client_is_refused(
    harness: Harness, provider: FakeProvider, cross_site: dict[str, str]
) -> None:
    started = await harness.start(
        headers=cross_site,
        client_id=EVIL,
        redirect_uri=EVIL_CALLBACK,
        code_challenge=pkce_s256("a" * 43),
    )
    if started.status == 302:
        response = await harness.callback(await provider.authorize(started.headers["Location"]))
        assert not response.headers.get("Location", "").startswith(EVIL_CALLBACK)
    assert started.status in (400, 403)
    assert not harness.issued_codes


async def test_form_post_from_a_sibling_subdomain_is_refused(
    harness: Harness, provider: FakeProvider
) -> None:
    # Issue #14.5: "same-site" is another origin (another app under the same domain).
    sibling = {"Origin": "https://other.example.com", "Sec-Fetch-Site": "same-site"}
    started = await harness.start(headers=sibling)
    await assert_error_page(
        started, status=403, reason="invalid_request", detail="cross-origin form post"
    )
    assert len(harness.hass.data[DATA_DOMAIN].pending_logins) == 0


@pytest.mark.parametrize(
    "own_page",
    [
        pytest.param({"Sec-Fetch-Site": "same-origin"}, id="fetch-metadata"),
        # Our pages send Referrer-Policy: no-referrer, so their posts carry Origin "null".
        pytest.param({"Origin": "null"}, id="origin-null"),
    ],
)
async def test_form_post_from_our_own_page_starts_the_login(
    harness: Harness, own_page: dict[str, str]
) -> None:
    started = await harness.start(headers=own_page)
    assert started.status == 302, await started.text()


async def start_device_login(harness: Harness, waiting: Any, **client: str) -> str:
    """Open a cross-device waiting page in `waiting`; return the code it shows."""
    response = await waiting.get(
        "/auth/oidc/welcome",
        params={**authorize_query(**client), "device_login": "true"},
        headers={"User-Agent": "Home Assistant/2026.11 (iPhone; iOS 19.0)"},
    )
    page = await response.text()
    assert response.status == 200, page
    found = re.search(r'id="device-code"[^>]*>\s*([A-Z0-9-]+)\s*<', page)
    assert found is not None, page
    return found.group(1)


async def test_device_confirmation_names_a_third_party_client(
    harness: Harness, provider: FakeProvider, new_browser: Any
) -> None:
    code = await start_device_login(
        harness, await new_browser(harness), client_id=EVIL, redirect_uri=EVIL_CALLBACK
    )
    started = await harness.client.post(
        "/auth/oidc/device",
        data={"code": code, "entry_id": harness.entry_id},
        allow_redirects=False,
    )
    assert started.status == 302, await started.text()
    verified = await harness.callback(await provider.authorize(started.headers["Location"]))
    assert verified.status == 302, await verified.text()
    confirm = await harness.client.get(verified.headers["Location"])
    assert confirm.status == 200
    assert "evil.example.net" in visible_text(await confirm.text())


# -- security headers -------------------------------------------------------------------------


def assert_page_headers(response: Any) -> None:
    csp = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["Content-Security-Policy"].split(";")
        if directive.strip()
    }
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "script-src" not in csp
    assert all("unsafe" not in " ".join(values) for values in csp.values())
    assert response.headers["Referrer-Policy"] == "no-referrer"
    # Home Assistant's headers middleware rewrites X-Frame-Options to SAMEORIGIN; the CSP
    # frame-ancestors directive above takes precedence in every current browser.
    assert response.headers["X-Frame-Options"] in ("DENY", "SAMEORIGIN")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response.headers["Cache-Control"]


def assert_script_free(page: str) -> None:
    lowered = page.lower()
    assert "<script" not in lowered
    assert "javascript:" not in lowered
    assert " style=" not in lowered
    assert "<iframe" not in lowered
    assert not any(
        f" on{event}=" in lowered for event in ("load", "error", "click", "submit", "focus")
    )


async def test_pages_carry_security_headers_and_no_script(
    harness: Harness, provider: FakeProvider
) -> None:
    pages = [
        await harness.client.get("/auth/oidc/welcome", params=authorize_query()),
        await harness.client.get("/auth/oidc/welcome", params={"client_id": "bad"}),
        await harness.client.post("/auth/oidc/redirect", data={"entry_id": "unknown"}),
        await harness.callback({"state": "forged", "code": "x"}),
    ]
    provider.id_token_claims_override = {"aud": "evil"}
    pages.append(await harness.login())
    for response in pages:
        assert response.content_type == "text/html"
        assert_page_headers(response)
        assert_script_free(await response.text())


async def test_device_waiting_page_loads_only_our_static_script(
    harness: Harness, new_browser: Any
) -> None:
    response = await (await new_browser(harness)).get(
        "/auth/oidc/welcome", params={**authorize_query(), "device_login": "true"}
    )
    assert response.status == 200
    csp = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["Content-Security-Policy"].split(";")
        if directive.strip()
    }
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert all("unsafe" not in " ".join(values) for values in csp.values())
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response.headers["Cache-Control"]
    page = (await response.text()).lower()
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts
    assert all('src="/auth/oidc/static/' in tag for tag in scripts)
    assert all(tag + "</script>" in page for tag in scripts)  # no inline body
    assert " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)
    cookie = binding_cookie(response, prefix="auth_oidc_device_")
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"


async def test_redirects_are_not_cached_and_leak_no_referrer(harness: Harness) -> None:
    started = await harness.start()
    callback_response = await harness.callback(
        await harness.provider.authorize(started.headers["Location"])
    )
    for response in (started, callback_response):
        assert response.status == 302
        assert "no-store" in response.headers["Cache-Control"]
        assert response.headers["Referrer-Policy"] == "no-referrer"


def binding_cookie(response: Any, prefix: str = "auth_oidc_binding_") -> Any:
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie"):
        cookies.load(header)
    (morsel,) = [m for name, m in cookies.items() if name.startswith(prefix)]
    return morsel


async def test_binding_cookie_flags_over_plain_http(harness: Harness) -> None:
    started = await harness.start()
    cookie = binding_cookie(started)
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/auth/oidc/callback"
    assert cookie["max-age"] == "600"
    assert not cookie["secure"]
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    assert cookie.key == binding_cookie_name(state)


async def test_behind_a_trusted_https_proxy_cookie_is_secure_and_callback_https(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        http={"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]},
    )
    proxied = {
        "X-Forwarded-For": "198.51.100.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ha.example.com",
    }
    started = await harness.start(headers=proxied)
    assert started.status == 302
    assert binding_cookie(started)["secure"]
    sent = parse_qs(urlsplit(started.headers["Location"]).query)
    assert sent["redirect_uri"] == ["https://ha.example.com/auth/oidc/callback"]


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(harness: Harness) -> None:
    started = await harness.start(
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.net"}
    )
    assert started.status == 302
    sent = parse_qs(urlsplit(started.headers["Location"]).query)
    assert "evil.example.net" not in sent["redirect_uri"][0]
    assert not binding_cookie(started)["secure"]


async def test_force_https_makes_the_binding_cookie_secure(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, features={"force_https": True}
    )
    started = await harness.start()
    sent = parse_qs(urlsplit(started.headers["Location"]).query)
    assert sent["redirect_uri"][0].startswith("https://")
    assert binding_cookie(started)["secure"]


async def test_client_state_is_returned_verbatim_only_to_the_client(harness: Harness) -> None:
    response = await harness.login()
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == [CLIENT_STATE]
    assert urlencode({"state": CLIENT_STATE}) in response.headers["Location"]
