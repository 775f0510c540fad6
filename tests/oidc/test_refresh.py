"""Tests for the refresh grant (RFC 6749 §6) and the refreshed ID token (OIDC Core 1.0 §12.2)."""

import logging

import pytest

from custom_components.auth_oidc.oidc import (
    IDTokenError,
    OIDCClient,
    OIDCError,
    TokenError,
    UserinfoError,
)
from tests.fake_provider import DEFAULT_CLIENT_SECRET, FakeProvider

from .support import login, make_client


async def logged_in_refresh_token(client: OIDCClient, provider: FakeProvider) -> str:
    result = await login(client, provider)
    assert result.refresh_token is not None
    return result.refresh_token


async def refresh_error(client: OIDCClient, refresh_token: str, subject: str) -> OIDCError:
    with pytest.raises(OIDCError) as caught:
        await client.refresh(refresh_token, subject=subject)
    return caught.value


async def test_login_keeps_the_refresh_token(client, provider) -> None:
    result = await login(client, provider)
    assert result.refresh_token == provider.token_responses[-1]["refresh_token"]
    assert str(result.refresh_token) not in repr(result)


async def test_refresh_rotates_and_returns_current_groups(client, provider) -> None:
    old = await logged_in_refresh_token(client, provider)
    provider.user["groups"] = ["ha-users"]
    refreshed = await client.refresh(old, subject=provider.user["sub"])
    assert refreshed.claims is not None
    assert refreshed.claims["groups"] == ["ha-users"]
    assert refreshed.refresh_token not in (None, old)
    assert refreshed.refresh_token not in repr(refreshed)
    form = provider.token_requests[-1]["form"]
    # RFC 6749 §6: the grant, the token, and no scope (the original grant's scope is kept).
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == old
    assert "scope" not in form
    # Rotation: the spent token is refused from now on.
    error = await refresh_error(client, old, provider.user["sub"])
    assert (error.code, error.provider_error) == ("token_request_failed", "invalid_grant")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none"])
async def test_refresh_authenticates_like_the_code_exchange(session, provider, method) -> None:
    overrides = {"token_endpoint_auth_method": method}
    if method == "none":
        overrides["client_secret"] = None
    client = make_client(session, provider, **overrides)
    token = await logged_in_refresh_token(client, provider)
    await client.refresh(token, subject=provider.user["sub"])
    exchange, refresh = provider.token_requests[-2:]
    assert refresh["auth_method"] == exchange["auth_method"] == method


async def test_disabled_user_gets_invalid_grant(client, provider) -> None:
    token = await logged_in_refresh_token(client, provider)
    provider.disabled_subjects.add(provider.user["sub"])
    error = await refresh_error(client, token, provider.user["sub"])
    assert isinstance(error, TokenError)
    assert (error.code, error.provider_error) == ("token_request_failed", "invalid_grant")


async def test_provider_down_is_an_outage_not_a_refusal(client, provider) -> None:
    token = await logged_in_refresh_token(client, provider)
    provider.down = True
    error = await refresh_error(client, token, provider.user["sub"])
    assert error.code == "token_request_failed"
    # Not an RFC 6749 §5.2 refusal: the caller must not read it as a revoked grant.
    assert error.provider_error == "temporarily_unavailable"


async def test_refreshed_id_token_for_another_subject_is_refused(client, provider) -> None:
    token = await logged_in_refresh_token(client, provider)
    provider.id_token_claims_override = {"sub": "someone-else"}
    error = await refresh_error(client, token, provider.user["sub"])
    assert isinstance(error, IDTokenError)
    assert error.code == "id_token_sub"


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"iss": "https://evil.example"}, "id_token_issuer"),
        ({"aud": "another-client"}, "id_token_audience"),
        ({"exp": 1}, "id_token_expired"),
    ],
)
async def test_refreshed_id_token_is_validated(client, provider, override, code) -> None:
    token = await logged_in_refresh_token(client, provider)
    provider.id_token_claims_override = override
    assert (await refresh_error(client, token, provider.user["sub"])).code == code


async def test_refreshed_id_token_needs_no_nonce_but_may_carry_one(client, provider) -> None:
    token = await logged_in_refresh_token(client, provider)
    refreshed = await client.refresh(token, subject=provider.user["sub"])
    assert refreshed.claims is not None
    assert "nonce" not in refreshed.claims
    provider.id_token_claims_override = {"nonce": "from-the-original-login"}
    assert refreshed.refresh_token is not None
    again = await client.refresh(refreshed.refresh_token, subject=provider.user["sub"])
    assert again.claims is not None


async def test_without_refreshed_id_token_userinfo_gives_the_groups(client, provider) -> None:
    token = await logged_in_refresh_token(client, provider)
    provider.refresh_id_token = False
    provider.user["groups"] = []
    refreshed = await client.refresh(token, subject=provider.user["sub"])
    assert refreshed.claims is not None
    assert refreshed.claims["groups"] == []
    assert refreshed.claims["sub"] == provider.user["sub"]


async def test_userinfo_for_another_subject_is_refused(client, provider) -> None:
    token = await logged_in_refresh_token(client, provider)
    provider.refresh_id_token = False
    provider.userinfo_override = {"sub": "someone-else"}
    error = await refresh_error(client, token, provider.user["sub"])
    assert isinstance(error, UserinfoError)
    assert error.code == "userinfo_sub_mismatch"


async def test_without_id_token_or_userinfo_nothing_is_known(client, provider) -> None:
    provider.discovery_remove = {"userinfo_endpoint"}
    token = await logged_in_refresh_token(client, provider)
    provider.refresh_id_token = False
    refreshed = await client.refresh(token, subject=provider.user["sub"])
    assert refreshed.claims is None


async def test_no_rotation_keeps_the_old_token(client, provider) -> None:
    provider.rotate_refresh_tokens = False
    token = await logged_in_refresh_token(client, provider)
    refreshed = await client.refresh(token, subject=provider.user["sub"])
    assert refreshed.refresh_token is None
    assert (await client.refresh(token, subject=provider.user["sub"])).claims is not None


async def test_refresh_never_logs_tokens(client, provider, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    token = await logged_in_refresh_token(client, provider)
    refreshed = await client.refresh(token, subject=provider.user["sub"])
    provider.disabled_subjects.add(provider.user["sub"])
    assert refreshed.refresh_token is not None
    error = await refresh_error(client, refreshed.refresh_token, provider.user["sub"])
    logged = caplog.text + str(error) + repr(error) + repr(refreshed)
    assert "Refreshing tokens" in caplog.text
    for secret in (token, refreshed.refresh_token, DEFAULT_CLIENT_SECRET):
        assert secret not in logged
    for response in provider.token_responses:
        assert response["access_token"] not in logged
