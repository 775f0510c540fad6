"""Tests for the relying-party client: the whole authorization code flow."""

import dataclasses
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from multidict import MultiDict

from custom_components.auth_oidc.oidc import (
    AuthorizationRequest,
    CallbackError,
    DiscoveryError,
    IDTokenError,
    OIDCClient,
    OIDCError,
    TokenError,
    UserinfoError,
    code_challenge_s256,
    generate_code_verifier,
)
from tests.fake_clock import FakeClock
from tests.fake_provider import DEFAULT_CLIENT_SECRET, FakeProvider

from .support import REDIRECT_URI, login, make_client, self_signed_tls


async def login_error(client, provider) -> OIDCError:
    with pytest.raises(OIDCError) as caught:
        await login(client, provider)
    return caught.value


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_login_succeeds(session, alg: str) -> None:
    async with FakeProvider.running(alg=alg) as provider:
        result = await login(make_client(session, provider), provider)
    assert result.issuer == provider.issuer
    assert result.subject == provider.user["sub"]
    assert result.claims["preferred_username"] == "ada"
    assert result.claims["groups"] == ["admins", "ha-users"]
    assert result.id_token_claims["aud"] == provider.client_id
    assert provider.requests == {
        "discovery": 1,
        "authorize": 1,
        "token": 1,
        "jwks": 1,
        "userinfo": 1,
    }


async def test_userinfo_fills_profile_claims_but_not_token_claims(client, provider) -> None:
    provider.id_token_include_profile = False
    provider.userinfo_override = {
        "groups": ["from-userinfo"],
        "iss": "https://evil.example",
        "aud": "evil",
        "exp": 1,
        "nonce": "x",
        "auth_time": 2,
        "acr": "weak",
    }
    result = await login(client, provider)
    assert result.claims["groups"] == ["from-userinfo"]
    assert result.claims["email"] == "ada@example.test"
    assert result.claims["iss"] == provider.issuer
    assert result.claims["aud"] == provider.client_id
    assert result.claims["exp"] == result.id_token_claims["exp"]
    assert result.claims["nonce"] == result.id_token_claims["nonce"]
    assert result.claims["auth_time"] == result.id_token_claims["auth_time"]
    assert "acr" not in result.claims
    assert "groups" not in result.id_token_claims


async def test_userinfo_overrides_profile_claims_from_the_id_token(client, provider) -> None:
    provider.userinfo_override = {"name": "Ada K."}
    result = await login(client, provider)
    assert result.claims["name"] == "Ada K."
    assert result.id_token_claims["name"] == "Ada Lovelace"


async def test_login_result_is_read_only(client, provider) -> None:
    result = await login(client, provider)
    with pytest.raises(TypeError):
        result.claims["groups"] = ["admins"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.subject = "admin"  # type: ignore[misc]


class TestAuthorizationRequest:
    async def test_builds_a_pkce_authorization_url(self, client, provider) -> None:
        request = await client.start_authorization(REDIRECT_URI)
        url = urlsplit(request.url)
        assert f"{url.scheme}://{url.netloc}{url.path}" == provider.url("authorize")
        params = parse_qs(url.query)
        assert all(len(values) == 1 for values in params.values())
        assert {name: values[0] for name, values in params.items()} == {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile email groups",
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": code_challenge_s256(request.code_verifier or ""),
            "code_challenge_method": "S256",
        }
        assert request.redirect_uri == REDIRECT_URI

    async def test_every_request_has_fresh_secrets(self, client) -> None:
        first = await client.start_authorization(REDIRECT_URI)
        second = await client.start_authorization(REDIRECT_URI)
        assert first.state != second.state
        assert first.nonce != second.nonce
        assert first.code_verifier != second.code_verifier

    async def test_keeps_endpoint_query_without_duplicating_parameters(
        self, client, provider
    ) -> None:
        provider.discovery_override = {
            "authorization_endpoint": provider.url("authorize") + "?tenant=home&client_id=x"
        }
        request = await client.start_authorization(REDIRECT_URI, extra_params={"prompt": "login"})
        params = parse_qs(urlsplit(request.url).query)
        assert params["tenant"] == ["home"]
        assert params["client_id"] == [provider.client_id]
        assert params["prompt"] == ["login"]

    @pytest.mark.parametrize("name", ["state", "nonce", "redirect_uri", "code_challenge_method"])
    async def test_extra_params_cannot_override_protocol_parameters(
        self, client, name: str
    ) -> None:
        with pytest.raises(ValueError, match=name):
            await client.start_authorization(REDIRECT_URI, extra_params={name: "x"})

    async def test_pkce_can_be_disabled(self, session, provider) -> None:
        provider.discovery_override = {"code_challenge_methods_supported": ["plain"]}
        client = make_client(session, provider, use_pkce=False)
        request = await client.start_authorization(REDIRECT_URI)
        assert request.code_verifier is None
        assert "code_challenge" not in parse_qs(urlsplit(request.url).query)
        assert (await login(client, provider)).subject == provider.user["sub"]
        assert "code_verifier" not in provider.token_requests[-1]["form"]

    async def test_provider_without_s256_is_refused_when_pkce_is_on(self, client, provider) -> None:
        provider.discovery_override = {"code_challenge_methods_supported": ["plain"]}
        with pytest.raises(DiscoveryError) as caught:
            await client.start_authorization(REDIRECT_URI)
        assert caught.value.code == "discovery_no_s256"

    async def test_metadata_must_fit_the_settings(self, session, provider) -> None:
        client = make_client(session, provider, id_token_signing_alg="ES256")
        with pytest.raises(DiscoveryError) as caught:
            await client.start_authorization(REDIRECT_URI)
        assert caught.value.code == "discovery_no_usable_alg"


class TestCallback:
    async def callback(
        self, client: OIDCClient, provider: FakeProvider, **knobs: object
    ) -> tuple[AuthorizationRequest, MultiDict[str]]:
        for name, value in knobs.items():
            setattr(provider, name, value)
        request = await client.start_authorization(REDIRECT_URI)
        return request, await provider.authorize(request.url)

    async def code(self, client, provider, query=None, **knobs) -> str:
        request, received = await self.callback(client, provider, **knobs)
        metadata = await client.metadata()
        with pytest.raises(CallbackError) as caught:
            client.parse_callback(
                received if query is None else query,
                expected_state=request.state,
                metadata=metadata,
            )
        return caught.value.code

    async def test_returns_the_code(self, client, provider) -> None:
        request, query = await self.callback(client, provider)
        code = client.parse_callback(
            query, expected_state=request.state, metadata=await client.metadata()
        )
        assert code == query["code"]

    async def test_accepts_mappings_of_lists_and_of_strings(self, client, provider) -> None:
        request, query = await self.callback(client, provider)
        metadata = await client.metadata()
        as_lists = {name: query.getall(name) for name in query}
        as_strings = dict(query)
        for candidate in (as_lists, as_strings):
            code = client.parse_callback(candidate, expected_state=request.state, metadata=metadata)
            assert code == query["code"]

    @pytest.mark.parametrize("name", ["code", "state", "iss"])
    async def test_duplicated_parameters_are_refused(self, client, provider, name: str) -> None:
        extra = [(name, "injected")]
        code = await self.code(client, provider, callback_extra_params=extra)
        assert code == "callback_duplicate_param"

    async def test_duplicated_error_is_refused(self, client, provider) -> None:
        code = await self.code(
            client,
            provider,
            callback_error="access_denied",
            callback_extra_params=[("error", "server_error")],
        )
        assert code == "callback_duplicate_param"

    async def test_duplicates_in_a_mapping_of_lists_are_refused(self, client, provider) -> None:
        request, query = await self.callback(client, provider)
        as_lists = {name: query.getall(name) for name in query}
        as_lists["code"] = [query["code"], "second"]
        metadata = await client.metadata()
        with pytest.raises(CallbackError) as caught:
            client.parse_callback(as_lists, expected_state=request.state, metadata=metadata)
        assert caught.value.code == "callback_duplicate_param"

    @pytest.mark.parametrize("state", ["forged", "", None])
    async def test_state_must_match(self, client, provider, state) -> None:
        override = {"state": state}
        code = await self.code(client, provider, callback_params_override=override)
        assert code == "callback_state"

    async def test_forged_error_responses_are_state_errors(self, client, provider) -> None:
        code = await self.code(
            client,
            provider,
            callback_error="access_denied",
            callback_params_override={"state": "forged"},
        )
        assert code == "callback_state"

    async def test_provider_errors_are_reported(self, client, provider) -> None:
        request, query = await self.callback(client, provider, callback_error="access_denied")
        metadata = await client.metadata()
        with pytest.raises(CallbackError) as caught:
            client.parse_callback(query, expected_state=request.state, metadata=metadata)
        assert caught.value.code == "provider_error"
        assert caught.value.provider_error == "access_denied"

    async def test_provider_error_text_is_sanitised(self, client, provider) -> None:
        request, query = await self.callback(client, provider)
        query = MultiDict(
            state=request.state,
            iss=provider.issuer,
            error="bad\nerror\x1b[31m",
            error_description="line1\r\nline2 " + "x" * 500,
        )
        metadata = await client.metadata()
        with pytest.raises(CallbackError) as caught:
            client.parse_callback(query, expected_state=request.state, metadata=metadata)
        assert caught.value.provider_error == "bad?error?[31m"
        assert "\n" not in str(caught.value)
        assert len(caught.value.detail) < 450

    @pytest.mark.parametrize(
        ("advertised", "iss", "code"),
        [
            (True, None, "callback_iss"),
            (True, "https://evil.example", "callback_iss"),
            (False, "https://evil.example", "callback_iss"),
        ],
    )
    async def test_issuer_parameter_is_checked(
        self, client, provider, advertised, iss, code
    ) -> None:
        provider.discovery_override = {"authorization_response_iss_parameter_supported": advertised}
        override = {"iss": iss}
        assert await self.code(client, provider, callback_params_override=override) == code

    async def test_missing_iss_is_fine_when_not_advertised(self, client, provider) -> None:
        provider.discovery_override = {"authorization_response_iss_parameter_supported": False}
        provider.include_iss_in_callback = False
        assert (await login(client, provider)).subject == provider.user["sub"]

    async def test_wrong_issuer_error_response_is_an_iss_error(self, client, provider) -> None:
        code = await self.code(
            client,
            provider,
            callback_error="access_denied",
            callback_params_override={"iss": "https://evil.example"},
        )
        assert code == "callback_iss"

    @pytest.mark.parametrize("value", [None, ""])
    async def test_code_is_required(self, client, provider, value) -> None:
        override = {"code": value}
        code = await self.code(client, provider, callback_params_override=override)
        assert code == "callback_missing_code"


class TestTokenEndpoint:
    async def test_basic_auth_is_the_default_with_a_secret(self, client, provider) -> None:
        await login(client, provider)
        token_request = provider.token_requests[-1]
        assert token_request["auth_method"] == "client_secret_basic"
        assert "client_secret" not in token_request["form"]
        assert "client_id" not in token_request["form"]
        assert token_request["form"]["grant_type"] == "authorization_code"
        assert token_request["form"]["redirect_uri"] == REDIRECT_URI

    async def test_post_auth_when_only_post_is_advertised(self, session, provider) -> None:
        provider.token_endpoint_auth_methods = ["client_secret_post"]
        await login(make_client(session, provider), provider)
        token_request = provider.token_requests[-1]
        assert token_request["auth_method"] == "client_secret_post"
        assert token_request["authorization"] is None

    async def test_configured_post_auth(self, session, provider) -> None:
        client = make_client(session, provider, token_endpoint_auth_method="client_secret_post")
        await login(client, provider)
        assert provider.token_requests[-1]["auth_method"] == "client_secret_post"

    async def test_public_client_sends_only_its_id(self, session, provider) -> None:
        client = make_client(session, provider, client_secret=None)
        await login(client, provider)
        token_request = provider.token_requests[-1]
        assert token_request["auth_method"] == "none"
        assert token_request["form"]["client_id"] == provider.client_id
        assert token_request["authorization"] is None

    async def test_public_client_sends_none_even_when_not_advertised(
        self, session, provider
    ) -> None:
        # Glewlwyd 2.7 advertises only the secret methods yet accepts public clients.
        provider.discovery_override = {
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]
        }
        client = make_client(session, provider, client_secret=None)
        await login(client, provider)
        assert provider.token_requests[-1]["auth_method"] == "none"

    async def test_basic_credentials_are_form_encoded(self, session) -> None:
        client_id, secret = "ha client:1", "p@ss:w%rd+é/"
        async with FakeProvider.running(client_id=client_id, client_secret=secret) as provider:
            client = make_client(session, provider, client_id=client_id, client_secret=secret)
            assert (await login(client, provider)).subject == provider.user["sub"]
        assert provider.token_requests[-1]["auth_method"] == "client_secret_basic"

    async def test_no_supported_auth_method(self, session, provider) -> None:
        provider.token_endpoint_auth_methods = ["private_key_jwt"]
        error = await login_error(make_client(session, provider), provider)
        assert error.code == "discovery_no_auth_method"

    async def test_wrong_secret_is_reported_with_the_oauth_error(self, session, provider) -> None:
        client = make_client(session, provider, client_secret="wrong-secret-value")
        error = await login_error(client, provider)
        assert isinstance(error, TokenError)
        assert (error.code, error.provider_error) == ("token_request_failed", "invalid_client")

    async def test_wrong_code_verifier_is_refused(self, client, provider) -> None:
        request = await client.start_authorization(REDIRECT_URI)
        query = await provider.authorize(request.url)
        tampered = dataclasses.replace(request, code_verifier=generate_code_verifier())
        with pytest.raises(TokenError) as caught:
            await client.complete_login(query, tampered)
        assert caught.value.provider_error == "invalid_grant"

    async def test_code_cannot_be_redeemed_twice(self, client, provider) -> None:
        request = await client.start_authorization(REDIRECT_URI)
        query = await provider.authorize(request.url)
        await client.complete_login(query, request)
        with pytest.raises(TokenError) as caught:
            await client.complete_login(query, request)
        assert caught.value.provider_error == "invalid_grant"

    async def test_redirect_uri_must_match(self, client, provider) -> None:
        request = await client.start_authorization(REDIRECT_URI)
        query = await provider.authorize(request.url)
        other = dataclasses.replace(request, redirect_uri="https://evil.example/cb")
        with pytest.raises(TokenError) as caught:
            await client.complete_login(query, other)
        assert caught.value.provider_error == "invalid_grant"

    async def test_token_endpoint_redirects_are_not_followed(self, client, provider) -> None:
        provider.status["token"] = 307
        provider.redirects["token"] = provider.url("userinfo")
        error = await login_error(client, provider)
        assert error.code == "token_request_failed"
        assert "HTTP 307" in error.detail
        assert provider.requests["userinfo"] == 0

    @pytest.mark.parametrize(
        ("override", "code"),
        [
            (b"not json", "token_response_invalid"),
            (b"[]", "token_response_invalid"),
            ({"access_token": ""}, "token_response_invalid"),
            ({"access_token": 5}, "token_response_invalid"),
            ({"token_type": "DPoP"}, "token_response_invalid"),
            ({"token_type": None}, "token_response_invalid"),
            ({"id_token": None}, "token_response_invalid"),
            ({"id_token": ["a", "b"]}, "token_response_invalid"),
            ({"id_token": "not.a.jwt"}, "id_token_invalid"),
        ],
    )
    async def test_malformed_token_responses(self, client, provider, override, code) -> None:
        provider.token_response_override = override
        assert (await login_error(client, provider)).code == code

    @pytest.mark.parametrize("member", ["access_token", "token_type", "id_token"])
    async def test_required_token_response_members(self, client, provider, member) -> None:
        provider.token_response_remove = {member}
        assert (await login_error(client, provider)).code == "token_response_invalid"

    async def test_token_set_details(self, client, provider) -> None:
        provider.token_response_override = {"token_type": "bearer", "refresh_token": "r-1"}
        request = await client.start_authorization(REDIRECT_URI)
        query = await provider.authorize(request.url)
        tokens = await client.exchange_code(query["code"], request)
        assert tokens.token_type == "bearer"
        assert tokens.refresh_token == "r-1"
        assert tokens.expires_in == 3600
        assert tokens.scope == "openid profile email groups"
        assert tokens.access_token not in repr(tokens)

    @pytest.mark.parametrize("expires_in", ["3600", True, None, 1.5])
    async def test_malformed_optional_members_are_dropped(
        self, client, provider, expires_in
    ) -> None:
        provider.issue_refresh_tokens = False
        provider.token_response_override = {"expires_in": expires_in, "scope": 7}
        request = await client.start_authorization(REDIRECT_URI)
        query = await provider.authorize(request.url)
        tokens = await client.exchange_code(query["code"], request)
        assert (tokens.expires_in, tokens.scope, tokens.refresh_token) == (None, None, None)

    @pytest.mark.parametrize(
        ("knob", "value", "code"),
        [
            ("status", {"token": 500}, "token_request_failed"),
            ("oversize", {"token": 2 * 1024 * 1024}, "response_too_large"),
            ("response_delay", {"token": 1}, "timeout"),
        ],
    )
    async def test_transport_failures(self, session, provider, knob, value, code) -> None:
        setattr(provider, knob, value)
        error = await login_error(make_client(session, provider, timeout=0.3), provider)
        assert isinstance(error, TokenError)
        assert error.code == code


class TestUserinfo:
    async def test_subject_must_match(self, client, provider) -> None:
        provider.userinfo_override = {"sub": "someone-else"}
        error = await login_error(client, provider)
        assert isinstance(error, UserinfoError)
        assert error.code == "userinfo_sub_mismatch"

    async def test_subject_is_required(self, client, provider) -> None:
        provider.userinfo_remove = {"sub"}
        assert (await login_error(client, provider)).code == "userinfo_sub_mismatch"

    async def test_signed_userinfo_is_not_supported(self, client, provider) -> None:
        provider.userinfo_raw = provider.sign(provider.user).encode()
        provider.userinfo_content_type = "application/jwt"
        error = await login_error(client, provider)
        assert (error.code, error.detail) == ("userinfo_failed", "signed userinfo not supported")

    @pytest.mark.parametrize(
        ("knob", "value", "code"),
        [
            ("status", {"userinfo": 500}, "userinfo_failed"),
            ("userinfo_raw", b"<html>", "userinfo_failed"),
            ("userinfo_raw", b'["sub"]', "userinfo_failed"),
            ("oversize", {"userinfo": 2 * 1024 * 1024}, "response_too_large"),
            ("response_delay", {"userinfo": 1}, "timeout"),
        ],
    )
    async def test_userinfo_failures_fail_the_login(
        self, session, provider, knob, value, code
    ) -> None:
        setattr(provider, knob, value)
        error = await login_error(make_client(session, provider, timeout=0.3), provider)
        assert isinstance(error, UserinfoError)
        assert error.code == code

    async def test_userinfo_can_be_skipped(self, session, provider) -> None:
        client = make_client(session, provider, userinfo=False)
        result = await login(client, provider)
        assert provider.requests["userinfo"] == 0
        assert result.claims == result.id_token_claims

    async def test_userinfo_is_skipped_when_the_id_token_has_the_needed_claims(
        self, session, provider
    ) -> None:
        client = make_client(
            session,
            provider,
            always_fetch_userinfo=False,
            needed_claims=frozenset({"name", "groups"}),
        )
        result = await login(client, provider)
        assert provider.requests["userinfo"] == 0
        assert result.claims == result.id_token_claims

    async def test_userinfo_fills_a_needed_claim_the_id_token_lacks(
        self, session, provider
    ) -> None:
        client = make_client(
            session,
            provider,
            always_fetch_userinfo=False,
            needed_claims=frozenset({"name", "groups"}),
        )
        provider.id_token_claims_remove = {"groups"}
        result = await login(client, provider)
        assert provider.requests["userinfo"] == 1
        assert "groups" not in result.id_token_claims
        assert result.claims["groups"] == provider.user["groups"]

    async def test_provider_without_userinfo_endpoint(self, client, provider) -> None:
        provider.discovery_remove = {"userinfo_endpoint"}
        result = await login(client, provider)
        assert provider.requests["userinfo"] == 0
        assert result.claims["groups"] == ["admins", "ha-users"]
        with pytest.raises(UserinfoError) as caught:
            await client.fetch_userinfo("token")
        assert caught.value.code == "userinfo_failed"

    async def test_access_token_is_sent_as_bearer(self, client, provider) -> None:
        await login(client, provider)
        access_token = provider.token_responses[-1]["access_token"]
        assert (await client.fetch_userinfo(access_token))["sub"] == provider.user["sub"]
        with pytest.raises(UserinfoError):
            await client.fetch_userinfo("not-issued")


class TestIDTokenInTheFlow:
    @pytest.mark.parametrize(
        ("claims", "code"),
        [
            ({"nonce": "from-another-login"}, "id_token_nonce"),
            ({"aud": ["ha-client", "evil"]}, "id_token_audience"),
            ({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, "id_token_at_hash"),
        ],
    )
    async def test_id_token_is_validated(self, client, provider, claims, code) -> None:
        provider.id_token_claims_override = claims
        error = await login_error(client, provider)
        assert isinstance(error, IDTokenError)
        assert error.code == code

    @pytest.mark.parametrize(
        ("use_pkce", "code"), [(True, "token_request_failed"), (False, "id_token_nonce")]
    )
    async def test_code_injected_from_another_login_is_refused(
        self, session, provider, use_pkce: bool, code: str
    ) -> None:
        provider.discovery_override = {"code_challenge_methods_supported": ["S256", "plain"]}
        client = make_client(session, provider, use_pkce=use_pkce)
        victim = await client.start_authorization(REDIRECT_URI)
        attacker = await client.start_authorization(REDIRECT_URI)
        query = await provider.authorize(attacker.url)
        # The victim's callback carries its own state but the attacker's code: PKCE stops
        # the redemption, and without PKCE the nonce stops the ID token.
        query["state"] = victim.state
        with pytest.raises(OIDCError) as caught:
            await client.complete_login(query, victim)
        assert caught.value.code == code

    async def test_uses_the_injected_clock(self, session, provider) -> None:
        client = make_client(session, provider, clock=FakeClock(now=0.0))
        assert (await login_error(client, provider)).code == "id_token_iat"

    async def test_key_rotation_between_logins(self, session, provider, clock) -> None:
        client = make_client(session, provider, monotonic=clock)
        await login(client, provider)
        provider.rotate_keys()
        clock.advance(61)
        assert (await login(client, provider)).subject == provider.user["sub"]
        assert provider.requests["jwks"] == 2

    async def test_jwks_cache_follows_a_changed_jwks_uri(self, session, provider, clock) -> None:
        client = make_client(session, provider, monotonic=clock)
        await login(client, provider)
        async with FakeProvider.running() as other:
            # Both fake providers sign with the same pooled key.
            provider.discovery_override = {"jwks_uri": other.url("jwks")}
            clock.advance(3600)
            await login(client, provider)
        assert other.requests["jwks"] == 1


async def test_private_ca_via_ssl_context(session) -> None:
    tls = self_signed_tls()
    async with FakeProvider.running(ssl_context=tls.server_context) as provider:
        client = make_client(session, provider, ssl_context=tls.trusting_client_context)
        assert (await login(client, provider)).subject == provider.user["sub"]
        untrusting = make_client(session, provider)
        assert (await login_error(untrusting, provider)).code == "discovery_tls"


async def test_secrets_are_never_logged(session, provider, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    provider.token_response_override = {"refresh_token": "refresh-token-value"}
    client = make_client(session, provider, token_endpoint_auth_method="client_secret_post")
    request = await client.start_authorization(REDIRECT_URI)
    query = await provider.authorize(request.url)
    await client.complete_login(query, request)

    # A failing login: its error text must be as clean as the logs.
    provider.id_token_claims_override = {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}
    failed_request = await client.start_authorization(REDIRECT_URI)
    failed_query = await provider.authorize(failed_request.url)
    with pytest.raises(OIDCError) as caught:
        await client.complete_login(failed_query, failed_request)

    secrets = [
        DEFAULT_CLIENT_SECRET,
        "refresh-token-value",
        *(response["access_token"] for response in provider.token_responses),
        *(response["id_token"] for response in provider.token_responses),
        *(r["form"]["code"] for r in provider.token_requests),
        *(r["form"]["code_verifier"] for r in provider.token_requests),
        request.state,
        request.nonce,
        failed_request.state,
        failed_request.nonce,
    ]
    assert len(provider.token_responses) == 2
    assert any(
        record.name.startswith("custom_components.auth_oidc.oidc") for record in caplog.records
    )
    logged = caplog.text + str(caught.value) + repr(caught.value)
    for secret in secrets:
        assert secret not in logged


async def test_unadvertised_pkce_is_still_sent(client, provider) -> None:
    # Microsoft Entra ID supports S256 without listing code_challenge_methods_supported.
    provider.discovery_remove = {"code_challenge_methods_supported"}
    provider.require_pkce = True
    result = await login(client, provider)
    assert result.subject == provider.user["sub"]
    assert provider.authorization_requests[-1]["code_challenge_method"] == "S256"
