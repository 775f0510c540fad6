"""Tests for the JWK Set parser and cache."""

import asyncio
import logging
import warnings
from typing import Any

import pytest
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from custom_components.auth_oidc.oidc import (
    ASYMMETRIC_ALGS,
    IDTokenError,
    JWKSCache,
    JWKSError,
    parse_jwks,
)
from custom_components.auth_oidc.oidc import jwks as jwks_module
from custom_components.auth_oidc.oidc.http import HTTPResponse
from custom_components.auth_oidc.oidc.jwks import KEY_REQUIREMENTS, key_fits_algorithm
from tests.fake_clock import FakeClock
from tests.fake_provider import FakeProvider

RSA_KEY = RSAKey.generate_key(2048, auto_kid=True)
EC_KEY = ECKey.generate_key("P-256", auto_kid=True)
with warnings.catch_warnings(action="ignore"):
    WEAK_RSA_JWK = RSAKey.generate_key(1024).as_dict(private=False)


def public_jwk(key, **members) -> dict[str, Any]:
    return {**key.as_dict(private=False), **members}


def make_cache(session, provider: FakeProvider, clock: FakeClock, **options) -> JWKSCache:
    return JWKSCache(session, provider.url("jwks"), clock=clock, **options)


async def key_error(cache: JWKSCache, kid: str | None, alg: str) -> str:
    with pytest.raises(IDTokenError) as caught:
        await cache.key_for(kid, alg)
    return caught.value.code


def test_key_requirements_cover_exactly_the_asymmetric_algorithms() -> None:
    assert set(KEY_REQUIREMENTS) == set(ASYMMETRIC_ALGS)


def test_parses_public_signature_keys() -> None:
    key_set = parse_jwks(
        {"keys": [public_jwk(RSA_KEY, use="sig"), public_jwk(EC_KEY, key_ops=["verify"])]}
    )
    assert [key.kid for key in key_set] == [RSA_KEY.kid, EC_KEY.kid]


@pytest.mark.parametrize(
    "entry",
    [
        public_jwk(RSA_KEY, use="enc"),
        public_jwk(RSA_KEY, key_ops=["encrypt"]),
        public_jwk(RSA_KEY, key_ops="verify"),
        OctKey.generate_key(256).as_dict(),
        {**public_jwk(RSA_KEY), "n": "not-base64!"},
        {"kty": "RSA"},
        {"kty": "PQC", "pub": "abc"},
        WEAK_RSA_JWK,
        "not an object",
    ],
    ids=[
        "use-enc",
        "key-ops-encrypt",
        "key-ops-not-list",
        "symmetric",
        "bad-modulus",
        "incomplete",
        "unknown-kty",
        "rsa-1024",
        "not-object",
    ],
)
def test_unusable_keys_are_skipped(entry) -> None:
    key_set = parse_jwks({"keys": [entry, public_jwk(EC_KEY)]})
    assert [key.kid for key in key_set] == [EC_KEY.kid]
    with pytest.raises(JWKSError) as caught:
        parse_jwks({"keys": [entry]})
    assert caught.value.code == "jwks_empty"


@pytest.mark.parametrize("key", [RSA_KEY, EC_KEY, OKPKey.generate_key("Ed25519")])
def test_published_private_keys_are_never_used(key, caplog) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(JWKSError) as caught:
        parse_jwks({"keys": [key.as_dict(private=True)]})
    assert caught.value.code == "jwks_empty"
    assert "private key material" in caplog.text


@pytest.mark.parametrize("document", [{}, {"keys": {}}, {"keys": "x"}])
def test_malformed_key_sets_are_invalid(document) -> None:
    with pytest.raises(JWKSError) as caught:
        parse_jwks(document)
    assert caught.value.code == "jwks_invalid"


@pytest.mark.parametrize(
    ("key", "alg", "fits"),
    [
        (RSA_KEY, "RS256", True),
        (RSA_KEY, "PS512", True),
        (RSA_KEY, "ES256", False),
        (EC_KEY, "ES256", True),
        (EC_KEY, "ES384", False),
        (ECKey.generate_key("P-384"), "ES384", True),
        (ECKey.generate_key("P-521"), "ES512", True),
        (OKPKey.generate_key("Ed25519"), "EdDSA", True),
        (OKPKey.generate_key("Ed25519"), "Ed25519", True),
        (OKPKey.generate_key("Ed448"), "EdDSA", True),
        (OKPKey.generate_key("Ed448"), "Ed25519", False),
        (RSAKey.import_key(public_jwk(RSA_KEY, alg="RS256")), "RS256", True),
        (RSAKey.import_key(public_jwk(RSA_KEY, alg="RS256")), "PS256", False),
    ],
)
def test_key_must_fit_the_algorithm(key, alg: str, fits: bool) -> None:
    assert key_fits_algorithm(key, alg) is fits


async def test_fetches_once_and_serves_the_key(session, provider, clock) -> None:
    cache = make_cache(session, provider, clock)
    key = await cache.key_for(provider.kid, "RS256")
    assert key.kid == provider.kid
    assert await cache.key_for(provider.kid, "RS256") is key
    assert provider.requests["jwks"] == 1


async def test_refreshes_after_ttl(session, provider, clock) -> None:
    cache = make_cache(session, provider, clock, ttl=100)
    await cache.key_set()
    clock.advance(100)
    await cache.key_set()
    assert provider.requests["jwks"] == 2


async def test_unknown_kid_refetches_once_and_is_rate_limited(session, provider, clock) -> None:
    cache = make_cache(session, provider, clock, min_refetch_interval=60)
    await cache.key_set()
    clock.advance(61)
    assert await key_error(cache, "unknown", "RS256") == "id_token_kid"
    assert provider.requests["jwks"] == 2
    assert await key_error(cache, "unknown", "RS256") == "id_token_kid"
    clock.advance(59)
    assert await key_error(cache, "another-unknown", "RS256") == "id_token_kid"
    assert provider.requests["jwks"] == 2
    clock.advance(1)
    assert await key_error(cache, "unknown", "RS256") == "id_token_kid"
    assert provider.requests["jwks"] == 3


async def test_unknown_kid_right_after_the_first_fetch_does_not_refetch(
    session, provider, clock
) -> None:
    cache = make_cache(session, provider, clock)
    assert await key_error(cache, "unknown", "RS256") == "id_token_kid"
    assert provider.requests["jwks"] == 1


async def test_key_rotation_is_picked_up(session, provider, clock) -> None:
    cache = make_cache(session, provider, clock)
    old_kid = provider.kid
    await cache.key_for(old_kid, "RS256")
    provider.rotate_keys()
    clock.advance(60)
    new_key = await cache.key_for(provider.kid, "RS256")
    assert new_key.kid == provider.kid != old_kid
    assert provider.requests["jwks"] == 2


async def test_concurrent_unknown_kids_share_one_refetch(session, provider, clock) -> None:
    cache = make_cache(session, provider, clock)
    await cache.key_set()
    clock.advance(60)
    provider.rotate_keys()
    provider.response_delay["jwks"] = 0.05
    keys = await asyncio.gather(*(cache.key_for(provider.kid, "RS256") for _ in range(5)))
    assert {key.kid for key in keys} == {provider.kid}
    assert provider.requests["jwks"] == 2


async def test_keeps_last_good_keys_when_refresh_fails(session, provider, clock, caplog) -> None:
    cache = make_cache(session, provider, clock, ttl=100, max_stale=1000)
    good = await cache.key_set()
    provider.status["jwks"] = 500
    clock.advance(200)
    with caplog.at_level(logging.WARNING):
        assert await cache.key_set() is good
    assert "using keys fetched 200 s ago" in caplog.text
    assert (await cache.key_for(provider.kid, "RS256")).kid == provider.kid
    clock.advance(900)
    with pytest.raises(JWKSError) as caught:
        await cache.key_set()
    assert caught.value.code == "jwks_unreachable"


async def test_failed_refetch_for_unknown_kid_keeps_the_old_keys(session, provider, clock) -> None:
    cache = make_cache(session, provider, clock)
    good = await cache.key_set()
    provider.jwks_override = b"garbage"
    clock.advance(60)
    with pytest.raises(JWKSError) as caught:
        await cache.key_for("rotated", "RS256")
    assert caught.value.code == "jwks_invalid"
    assert await cache.key_set() is good


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"keys": []}, "jwks_empty"),
        ({"keys": None}, "jwks_invalid"),
        (b"[]", "jwks_invalid"),
        (b"{", "jwks_invalid"),
    ],
)
async def test_first_fetch_failures_are_raised(session, provider, clock, override, code) -> None:
    provider.jwks_override = override
    with pytest.raises(JWKSError) as caught:
        await make_cache(session, provider, clock).key_set()
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("knobs", "code"),
    [
        ({"status": {"jwks": 404}}, "jwks_unreachable"),
        ({"oversize": {"jwks": 2 * 1024 * 1024}}, "response_too_large"),
        ({"response_delay": {"jwks": 1}}, "timeout"),
    ],
)
async def test_transport_failures(session, provider, clock, knobs, code) -> None:
    for name, value in knobs.items():
        setattr(provider, name, value)
    with pytest.raises(JWKSError) as caught:
        await make_cache(session, provider, clock, timeout=0.2).key_set()
    assert caught.value.code == code


async def test_insecure_redirect_target_is_refused(session, monkeypatch) -> None:
    async def redirected(*_args, **_kwargs) -> HTTPResponse:
        return HTTPResponse(200, "application/json", "http://evil.example/jwks", b'{"keys":[]}')

    monkeypatch.setattr(jwks_module, "send_request", redirected)
    cache = JWKSCache(session, "https://op.example/jwks")
    with pytest.raises(JWKSError) as caught:
        await cache.key_set()
    assert caught.value.code == "jwks_unreachable"


async def test_without_kid_the_single_fitting_key_is_used(session, provider, clock) -> None:
    cache = make_cache(session, provider, clock)
    assert (await cache.key_for(None, "RS256")).kid == provider.kid


async def test_without_kid_several_fitting_keys_are_ambiguous(session, provider, clock) -> None:
    provider.extra_jwks = [public_jwk(RSA_KEY, use="sig")]
    cache = make_cache(session, provider, clock)
    assert await key_error(cache, None, "RS256") == "id_token_kid"
    # A key of another type does not make it ambiguous.
    provider.extra_jwks = [public_jwk(EC_KEY, use="sig")]
    clock.advance(3600)
    assert (await cache.key_for(None, "RS256")).kid == provider.kid


async def test_duplicate_kids_are_ambiguous(session, provider, clock) -> None:
    provider.extra_jwks = [public_jwk(RSA_KEY, kid=provider.kid)]
    cache = make_cache(session, provider, clock)
    assert await key_error(cache, provider.kid, "RS256") == "id_token_kid"


@pytest.mark.parametrize(
    ("alg", "override"),
    [
        ("RS384", {}),  # published with alg RS256
        ("ES256", {}),  # RSA key
        ("RS256", {"alg": "PS256"}),
    ],
)
async def test_key_with_wrong_type_or_alg_is_not_used(
    session, provider, clock, alg, override
) -> None:
    provider.jwk_parameters_override = override
    cache = make_cache(session, provider, clock)
    assert await key_error(cache, provider.kid, alg) == "id_token_kid"


async def test_symmetric_algorithms_never_use_jwks(session, provider, clock) -> None:
    cache = make_cache(session, provider, clock)
    assert await key_error(cache, provider.kid, "HS256") == "id_token_alg"
    assert await key_error(cache, provider.kid, "none") == "id_token_alg"
    assert provider.requests["jwks"] == 0


async def test_old_key_stays_usable_while_still_published(session, provider, clock) -> None:
    old_kid = provider.kid
    provider.rotate_keys(keep_old=True)
    cache = make_cache(session, provider, clock)
    assert (await cache.key_for(old_kid, "RS256")).kid == old_kid
    assert (await cache.key_for(provider.kid, "RS256")).kid == provider.kid
    assert provider.requests["jwks"] == 1
