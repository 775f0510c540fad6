"""Tests for the one-off provider check that the setup runs before storing a provider."""

import aiohttp
import pytest

from custom_components.auth_oidc.oidc import (
    DiscoveryError,
    ErrorCode,
    OIDCError,
    parse_provider_metadata,
    probe_provider,
)
from custom_components.auth_oidc.oidc.probe import uses_insecure_http
from tests.fake_provider import FakeProvider

HTTPS_ISSUER = "https://id.example.com"


def metadata_with(**endpoints: str):
    """Return https metadata whose endpoints are overridden by `endpoints`."""
    document = {
        "issuer": HTTPS_ISSUER,
        "authorization_endpoint": f"{HTTPS_ISSUER}/authorize",
        "token_endpoint": f"{HTTPS_ISSUER}/token",
        "jwks_uri": f"{HTTPS_ISSUER}/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        **endpoints,
    }
    return parse_provider_metadata(
        document,
        discovery_url=f"{HTTPS_ISSUER}/.well-known/openid-configuration",
        allow_insecure_http=True,
    )


async def test_a_working_provider_is_described(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    result = await probe_provider(session, provider.discovery_url)
    assert result.issuer == provider.issuer
    assert result.discovery_url == provider.discovery_url
    assert result.metadata.token_endpoint == provider.url("token")
    assert result.algorithms == ("RS256",)
    assert result.pkce is True
    # Plain http on loopback needs no opt-in.
    assert result.needs_insecure_http is False


async def test_pkce_without_s256_needs_an_explicit_choice(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.discovery_override = {"code_challenge_methods_supported": ["plain"]}
    with pytest.raises(DiscoveryError) as refused:
        await probe_provider(session, provider.discovery_url)
    assert refused.value.code == ErrorCode.DISCOVERY_NO_S256
    result = await probe_provider(session, provider.discovery_url, accept_without_pkce=True)
    assert result.pkce is False


async def test_an_unlisted_pkce_method_list_means_s256(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.discovery_remove = {"code_challenge_methods_supported"}
    assert (await probe_provider(session, provider.discovery_url)).pkce is True


async def test_only_asymmetric_algorithms_are_offered(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.discovery_override = {"id_token_signing_alg_values_supported": ["HS256"]}
    with pytest.raises(DiscoveryError) as refused:
        await probe_provider(session, provider.discovery_url)
    assert refused.value.code == ErrorCode.DISCOVERY_NO_USABLE_ALG


async def test_a_broken_key_set_fails_the_check(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.jwks_override = {"keys": "not a list"}
    with pytest.raises(OIDCError) as failed:
        await probe_provider(session, provider.discovery_url)
    assert failed.value.code == ErrorCode.JWKS_INVALID


def test_http_off_loopback_or_inside_https_needs_an_opt_in() -> None:
    discovery = f"{HTTPS_ISSUER}/.well-known/openid-configuration"
    assert uses_insecure_http(discovery, metadata_with()) is False
    # RFC 9700 §2.6 / OIDC Discovery §7.1: a downgrade inside an https document.
    downgraded = metadata_with(token_endpoint="http://127.0.0.1:8080/token")
    assert uses_insecure_http(discovery, downgraded) is True
    lan = "http://idp.lan/.well-known/openid-configuration"
    assert uses_insecure_http(lan, metadata_with()) is True
