"""Tests for provider metadata discovery and its cache."""

import asyncio
import logging
import socket

import aiohttp
import pytest

from custom_components.auth_oidc.oidc import (
    DiscoveryError,
    ProviderMetadataCache,
    fetch_provider_metadata,
    issuer_from_discovery_url,
    parse_provider_metadata,
)
from custom_components.auth_oidc.oidc import discovery as discovery_module
from custom_components.auth_oidc.oidc.http import HTTPResponse
from tests.fake_clock import FakeClock
from tests.fake_provider import FakeProvider

from .support import self_signed_tls

WELL_KNOWN = "/.well-known/openid-configuration"


async def fetch(session: aiohttp.ClientSession, provider: FakeProvider, **options):
    return await fetch_provider_metadata(session, provider.discovery_url, **options)


async def fetch_error(session: aiohttp.ClientSession, provider: FakeProvider, **options) -> str:
    with pytest.raises(DiscoveryError) as caught:
        await fetch(session, provider, **options)
    return caught.value.code


async def test_fetches_and_validates_metadata(session, provider) -> None:
    metadata = await fetch(session, provider)
    assert metadata.issuer == provider.issuer
    assert metadata.authorization_endpoint == provider.url("authorize")
    assert metadata.token_endpoint == provider.url("token")
    assert metadata.jwks_uri == provider.url("jwks")
    assert metadata.userinfo_endpoint == provider.url("userinfo")
    assert metadata.end_session_endpoint == provider.url("end_session")
    assert metadata.code_challenge_methods_supported == ("S256",)
    assert metadata.id_token_signing_alg_values_supported == ("RS256",)
    assert metadata.authorization_response_iss_parameter_supported is True
    assert metadata.scopes_supported == ("openid", "profile", "email", "groups")


@pytest.mark.parametrize(
    ("url", "issuer"),
    [
        ("https://id.example.com/.well-known/openid-configuration", "https://id.example.com"),
        ("https://id.example.com/realms/ha" + WELL_KNOWN, "https://id.example.com/realms/ha"),
        ("http://127.0.0.1:8080" + WELL_KNOWN, "http://127.0.0.1:8080"),
        ("http://127.8.9.10" + WELL_KNOWN, "http://127.8.9.10"),
        ("http://localhost:5000" + WELL_KNOWN, "http://localhost:5000"),
        ("http://[::1]:5000" + WELL_KNOWN, "http://[::1]:5000"),
    ],
)
def test_issuer_is_the_discovery_url_without_the_well_known_path(url: str, issuer: str) -> None:
    assert issuer_from_discovery_url(url) == issuer


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://id.example.com/", "discovery_url_invalid"),
        ("https://id.example.com/.well-known/openid-configuration/", "discovery_url_invalid"),
        ("https://id.example.com" + WELL_KNOWN + "?x=1", "discovery_url_invalid"),
        ("https://id.example.com/?a=" + WELL_KNOWN, "discovery_url_invalid"),
        ("https://id.example.com/#" + WELL_KNOWN, "discovery_url_invalid"),
        ("/.well-known/openid-configuration", "discovery_url_invalid"),
        ("ftp://id.example.com" + WELL_KNOWN, "discovery_url_invalid"),
        ("https://id.example.com:99999" + WELL_KNOWN, "discovery_url_invalid"),
        ("http://id.example.com" + WELL_KNOWN, "discovery_insecure_endpoint"),
        ("http://10.0.0.1" + WELL_KNOWN, "discovery_insecure_endpoint"),
    ],
)
def test_bad_discovery_urls_are_refused(url: str, code: str) -> None:
    with pytest.raises(DiscoveryError) as caught:
        issuer_from_discovery_url(url)
    assert caught.value.code == code


def test_plain_http_needs_explicit_permission() -> None:
    url = "http://id.example.com" + WELL_KNOWN
    assert issuer_from_discovery_url(url, allow_insecure_http=True) == "http://id.example.com"


async def test_issuer_must_match_the_discovery_url(session, provider) -> None:
    provider.discovery_override = {"issuer": "https://evil.example"}
    assert await fetch_error(session, provider) == "discovery_issuer_mismatch"


@pytest.mark.parametrize("suffix", ["/other", "//", "x"])
async def test_issuer_variants_are_mismatches(session, provider, suffix: str) -> None:
    provider.discovery_override = {"issuer": provider.issuer + suffix}
    assert await fetch_error(session, provider) == "discovery_issuer_mismatch"


async def test_issuer_with_terminating_slash_matches(session, provider) -> None:
    # OIDC Discovery 1.0 §4.1: "https://op/" also publishes at https://op/.well-known/...
    provider.discovery_override = {"issuer": provider.issuer + "/"}
    assert (await fetch(session, provider)).issuer == provider.issuer + "/"


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"issuer": None}, "discovery_invalid"),
        ({"issuer": ""}, "discovery_invalid"),
        ({"token_endpoint": "http://evil.example/token"}, "discovery_insecure_endpoint"),
        ({"jwks_uri": "http://evil.example/jwks"}, "discovery_insecure_endpoint"),
        ({"userinfo_endpoint": "http://evil.example/u"}, "discovery_insecure_endpoint"),
        ({"authorization_endpoint": "/authorize"}, "discovery_invalid"),
        ({"authorization_endpoint": "https://op.example/a#frag"}, "discovery_invalid"),
        ({"token_endpoint": 42}, "discovery_invalid"),
        ({"end_session_endpoint": "javascript:alert(1)"}, "discovery_invalid"),
        ({"response_types_supported": ["id_token", "code id_token"]}, "discovery_no_code_flow"),
        ({"response_types_supported": "code"}, "discovery_invalid"),
        ({"response_types_supported": ["code", 7]}, "discovery_invalid"),
        ({"grant_types_supported": ["implicit"]}, "discovery_no_code_flow"),
        ({"code_challenge_methods_supported": ["plain"]}, "discovery_no_s256"),
        ({"code_challenge_methods_supported": []}, "discovery_no_s256"),
        ({"id_token_signing_alg_values_supported": ["none"]}, "discovery_no_usable_alg"),
        ({"id_token_signing_alg_values_supported": ["RSA-OAEP"]}, "discovery_no_usable_alg"),
        ({"authorization_response_iss_parameter_supported": "yes"}, "discovery_invalid"),
    ],
)
async def test_unacceptable_metadata_is_refused(session, provider, override, code) -> None:
    provider.discovery_override = override
    assert await fetch_error(session, provider) == code


@pytest.mark.parametrize(
    "member",
    [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "id_token_signing_alg_values_supported",
    ],
)
async def test_required_members_must_be_present(session, provider, member: str) -> None:
    provider.discovery_remove = {member}
    assert await fetch_error(session, provider) == "discovery_invalid"


async def test_plain_only_pkce_refused_unless_pkce_is_disabled(session, provider) -> None:
    provider.discovery_override = {"code_challenge_methods_supported": ["plain"]}
    assert await fetch_error(session, provider) == "discovery_no_s256"
    provider.discovery_override = {"code_challenge_methods_supported": ["plain"]}
    metadata = await fetch(session, provider, require_s256=False)
    assert metadata.code_challenge_methods_supported == ("plain",)


async def test_insecure_endpoints_allowed_when_permitted(session, provider) -> None:
    provider.discovery_override = {"token_endpoint": "http://op.example/token"}
    metadata = await fetch(session, provider, allow_insecure_http=True)
    assert metadata.token_endpoint == "http://op.example/token"


async def test_optional_members_get_spec_defaults(session, provider) -> None:
    provider.discovery_remove = {
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
        "userinfo_endpoint",
        "end_session_endpoint",
        "scopes_supported",
        "claims_supported",
        "authorization_response_iss_parameter_supported",
    }
    metadata = await fetch(session, provider)
    assert metadata.grant_types_supported == ("authorization_code", "implicit")
    assert metadata.token_endpoint_auth_methods_supported == ("client_secret_basic",)
    assert metadata.userinfo_endpoint is None
    assert metadata.end_session_endpoint is None
    assert metadata.scopes_supported == ()
    assert metadata.authorization_response_iss_parameter_supported is False


def test_parse_validates_a_document_without_network() -> None:
    url = "https://op.example" + WELL_KNOWN
    document = {
        "issuer": "https://op.example",
        "authorization_endpoint": "https://op.example/authorize",
        "token_endpoint": "https://op.example/token",
        "jwks_uri": "https://op.example/jwks",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["HS256"],
    }
    assert parse_provider_metadata(document, discovery_url=url).issuer == "https://op.example"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<html>login</html>", "discovery_not_json"),
        (b"[1, 2]", "discovery_not_json"),
        (b'"text"', "discovery_not_json"),
        (b'{"issuer": "a", "issuer": "b"}', "discovery_not_json"),
        (b'{"n": NaN}', "discovery_not_json"),
        (b'{"n": 1e999}', "discovery_not_json"),
        (b"\xff\xfe", "discovery_not_json"),
        (b"[" * 100_000, "discovery_not_json"),
    ],
    ids=["html", "array", "string", "duplicate", "nan", "overflow", "not-utf8", "deep"],
)
async def test_non_object_json_is_refused(session, provider, body: bytes, code: str) -> None:
    provider.discovery_raw = body
    assert await fetch_error(session, provider) == code


@pytest.mark.parametrize("status", [404, 500, 503])
async def test_http_errors_are_reported(session, provider, status: int) -> None:
    provider.status["discovery"] = status
    assert await fetch_error(session, provider) == "discovery_http_status"


async def test_slow_provider_times_out(session, provider) -> None:
    provider.response_delay["discovery"] = 2
    with pytest.raises(DiscoveryError) as caught:
        await fetch(session, provider, timeout=0.2)
    assert caught.value.code == "timeout"


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_documents_are_refused(session, provider, chunked: bool) -> None:
    provider.oversize["discovery"] = 2 * 1024 * 1024
    provider.oversize_chunked = chunked
    assert await fetch_error(session, provider) == "response_too_large"


async def test_unreachable_provider(session) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}{WELL_KNOWN}"
    with pytest.raises(DiscoveryError) as caught:
        await fetch_provider_metadata(session, url)
    assert caught.value.code == "discovery_unreachable"


async def test_untrusted_certificate_is_a_tls_error(session) -> None:
    tls = self_signed_tls()
    async with FakeProvider.running(ssl_context=tls.server_context) as https_provider:
        assert await fetch_error(session, https_provider) == "discovery_tls"
        trusted = await fetch(session, https_provider, ssl_context=tls.trusting_client_context)
    assert trusted.issuer.startswith("https://127.0.0.1:")


async def test_follows_a_few_redirects(session, provider) -> None:
    async with FakeProvider.running() as target:
        target.discovery_override = {"issuer": provider.issuer}
        provider.status["discovery"] = 302
        provider.redirects["discovery"] = target.discovery_url
        metadata = await fetch(session, provider)
    assert metadata.issuer == provider.issuer
    assert target.requests["discovery"] == 1


async def test_redirect_loops_are_cut_short(session, provider) -> None:
    provider.status["discovery"] = 302
    provider.redirects["discovery"] = provider.discovery_url
    assert await fetch_error(session, provider) == "discovery_http_status"
    assert provider.requests["discovery"] <= 4


@pytest.mark.parametrize("target", ["http://evil.example", "http://127.0.0.1:1411"])
async def test_redirect_to_plain_http_is_refused(session, monkeypatch, target: str) -> None:
    async def redirected(*_args, **_kwargs) -> HTTPResponse:
        return HTTPResponse(200, "application/json", target + WELL_KNOWN, b"{}")

    monkeypatch.setattr(discovery_module, "send_request", redirected)
    with pytest.raises(DiscoveryError) as caught:
        await fetch_provider_metadata(session, "https://op.example" + WELL_KNOWN)
    assert caught.value.code == "discovery_insecure_endpoint"


HTTPS_ISSUER = "https://op.example"


def https_document(**override: str) -> dict[str, object]:
    """Return a minimal valid discovery document served over https."""
    return {
        "issuer": HTTPS_ISSUER,
        "authorization_endpoint": f"{HTTPS_ISSUER}/authorize",
        "token_endpoint": f"{HTTPS_ISSUER}/api/oidc/token",
        "jwks_uri": f"{HTTPS_ISSUER}/.well-known/jwks.json",
        "userinfo_endpoint": f"{HTTPS_ISSUER}/api/oidc/userinfo",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        **override,
    }


@pytest.mark.parametrize(
    "member", ["authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"]
)
@pytest.mark.parametrize("host", ["127.0.0.1:1411", "localhost", "[::1]", "pocket-id.lan"])
def test_https_document_must_not_downgrade_an_endpoint_to_http(member: str, host: str) -> None:
    # Issue #14.5: the loopback exception is for an http discovery URL the admin typed.
    url = f"http://{host}/endpoint"
    document = https_document(**{member: url})
    with pytest.raises(DiscoveryError) as caught:
        parse_provider_metadata(document, discovery_url=HTTPS_ISSUER + WELL_KNOWN)
    assert caught.value.code == "discovery_insecure_endpoint"
    assert f"{member} {url}" in caught.value.detail
    # Pocket ID's INTERNAL_APP_URL: allowed when the admin explicitly allows plain http.
    metadata = parse_provider_metadata(
        document, discovery_url=HTTPS_ISSUER + WELL_KNOWN, allow_insecure_http=True
    )
    assert getattr(metadata, member) == url


def test_http_loopback_document_may_use_http_loopback_endpoints() -> None:
    issuer = "http://127.0.0.1:1411"
    document = {
        key: value.replace(HTTPS_ISSUER, issuer) if isinstance(value, str) else value
        for key, value in https_document().items()
    }
    metadata = parse_provider_metadata(document, discovery_url=issuer + WELL_KNOWN)
    assert metadata.token_endpoint == f"{issuer}/api/oidc/token"


class TestMetadataCache:
    async def test_serves_cached_metadata_within_ttl(self, session, provider, clock) -> None:
        cache = ProviderMetadataCache(session, provider.discovery_url, clock=clock, ttl=100)
        first = await cache.get()
        clock.advance(99)
        assert await cache.get() is first
        assert provider.requests["discovery"] == 1
        clock.advance(1)
        await cache.get()
        assert provider.requests["discovery"] == 2

    async def test_force_refresh_fetches(self, session, provider, clock) -> None:
        cache = ProviderMetadataCache(session, provider.discovery_url, clock=clock)
        await cache.get()
        await cache.get(force_refresh=True)
        assert provider.requests["discovery"] == 2

    async def test_first_failure_is_raised(self, session, provider, clock) -> None:
        provider.status["discovery"] = 500
        cache = ProviderMetadataCache(session, provider.discovery_url, clock=clock)
        with pytest.raises(DiscoveryError):
            await cache.get()

    async def test_keeps_last_good_metadata_for_a_while(
        self, session, provider, clock, caplog
    ) -> None:
        cache = ProviderMetadataCache(
            session, provider.discovery_url, clock=clock, ttl=100, max_stale=1000
        )
        good = await cache.get()
        provider.status["discovery"] = 503
        clock.advance(500)
        with caplog.at_level(logging.WARNING):
            assert await cache.get() is good
        assert "using metadata fetched 500 s ago" in caplog.text
        assert provider.requests["discovery"] == 2
        clock.advance(600)  # age 1100 >= ttl + max_stale
        with pytest.raises(DiscoveryError) as caught:
            await cache.get()
        assert caught.value.code == "discovery_http_status"

    async def test_failed_forced_refresh_raises_but_keeps_metadata(
        self, session, provider, clock
    ) -> None:
        cache = ProviderMetadataCache(session, provider.discovery_url, clock=clock)
        good = await cache.get()
        provider.status["discovery"] = 500
        with pytest.raises(DiscoveryError):
            await cache.get(force_refresh=True)
        assert await cache.get() is good

    async def test_concurrent_callers_share_one_fetch(self, session, provider, clock) -> None:
        provider.response_delay["discovery"] = 0.05
        cache = ProviderMetadataCache(session, provider.discovery_url, clock=clock)
        results = await asyncio.gather(*(cache.get() for _ in range(5)))
        assert provider.requests["discovery"] == 1
        assert all(result is results[0] for result in results)


def test_fake_clock_default_start() -> None:
    assert FakeClock()() == 1000.0


async def test_unadvertised_pkce_methods_are_accepted(session, provider) -> None:
    # Like Microsoft Entra ID: S256 works but code_challenge_methods_supported is absent.
    provider.discovery_remove = {"code_challenge_methods_supported"}
    metadata = await fetch(session, provider)
    assert metadata.code_challenge_methods_supported is None
    assert metadata.pkce_s256_usable


async def test_a_failure_is_remembered_for_the_retry_interval(session, provider) -> None:
    clock = FakeClock(now=100.0)
    cache = ProviderMetadataCache(session, provider.discovery_url, clock=clock, retry_interval=5.0)
    provider.status["discovery"] = 503
    for _ in range(3):
        with pytest.raises(DiscoveryError) as caught:
            await cache.get()
        assert caught.value.code == "discovery_http_status"
    assert provider.requests["discovery"] == 1
    provider.status.pop("discovery")
    clock.advance(5.0)
    assert (await cache.get()).issuer == provider.issuer
    assert provider.requests["discovery"] == 2
