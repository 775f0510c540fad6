"""Tests for the error codes and the value objects."""

import re

import pytest

from custom_components.auth_oidc.oidc import (
    ERROR_CODES,
    AuthorizationRequest,
    CallbackError,
    ClientSettings,
    ErrorCode,
    OIDCError,
    TokenSet,
    is_provider_unavailable,
)


def test_error_codes_are_snake_case_translation_keys() -> None:
    assert {code.value for code in ErrorCode} == ERROR_CODES
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", code) for code in ERROR_CODES)
    assert ErrorCode.DISCOVERY_UNREACHABLE.value == "discovery_unreachable"
    assert "id_token_at_hash" in ERROR_CODES


def test_error_carries_code_detail_and_provider_error() -> None:
    error = CallbackError(ErrorCode.PROVIDER_ERROR, "denied", provider_error="access_denied")
    assert isinstance(error, OIDCError)
    assert (error.code, error.detail, error.provider_error) == (
        "provider_error",
        "denied",
        "access_denied",
    )
    assert str(error) == "provider_error: denied"
    assert str(OIDCError(ErrorCode.TIMEOUT)) == "timeout"
    assert type(OIDCError(ErrorCode.TIMEOUT).code) is ErrorCode


@pytest.mark.parametrize(
    ("code", "provider_error", "unavailable"),
    [
        (ErrorCode.DISCOVERY_UNREACHABLE, None, True),
        (ErrorCode.DISCOVERY_TLS, None, True),
        (ErrorCode.DISCOVERY_HTTP_STATUS, None, True),
        (ErrorCode.DISCOVERY_NOT_JSON, None, True),
        (ErrorCode.JWKS_UNREACHABLE, None, True),
        (ErrorCode.TIMEOUT, None, True),
        (ErrorCode.RESPONSE_TOO_LARGE, None, True),
        (ErrorCode.USERINFO_FAILED, None, True),
        (ErrorCode.TOKEN_REQUEST_FAILED, None, True),
        (ErrorCode.TOKEN_REQUEST_FAILED, "server_error", True),
        (ErrorCode.TOKEN_REQUEST_FAILED, "temporarily_unavailable", True),
        (ErrorCode.TOKEN_REQUEST_FAILED, "invalid_grant", False),
        (ErrorCode.TOKEN_REQUEST_FAILED, "invalid_client", False),
        (ErrorCode.TOKEN_REQUEST_FAILED, "unauthorized_client", False),
        (ErrorCode.PROVIDER_ERROR, "temporarily_unavailable", False),
        (ErrorCode.DISCOVERY_NO_S256, None, False),
        (ErrorCode.DISCOVERY_ISSUER_MISMATCH, None, False),
        (ErrorCode.ID_TOKEN_SIGNATURE, None, False),
        (ErrorCode.JWKS_EMPTY, None, False),
    ],
)
def test_the_core_says_once_whether_the_provider_is_unavailable(
    code: ErrorCode, provider_error: str | None, unavailable: bool
) -> None:
    assert is_provider_unavailable(code, provider_error) is unavailable
    assert OIDCError(code, provider_error=provider_error).provider_unavailable is unavailable


def test_unknown_error_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown OIDC error code"):
        OIDCError("made_up")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"client_id": ""}, "client_id"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "unsupported"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "requires a client secret"),
        ({"token_endpoint_auth_method": "client_secret_post"}, "requires a client secret"),
        ({"id_token_signing_alg": "none"}, "not allowed"),
        ({"id_token_signing_alg": "NONE"}, "not allowed"),
        ({"scopes": ("openid profile",)}, "whitespace"),
        ({"scopes": ("",)}, "whitespace"),
    ],
)
def test_contradictory_settings_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClientSettings(**{"client_id": "ha", **options})  # type: ignore[arg-type]


def test_public_client_settings_are_accepted() -> None:
    settings = ClientSettings(client_id="ha", token_endpoint_auth_method="none")
    assert settings.client_secret is None


def test_scope_always_starts_with_openid_without_duplicates() -> None:
    assert ClientSettings(client_id="ha", scopes=("profile", "openid", "email")).scope == (
        "openid profile email"
    )
    assert ClientSettings(client_id="ha", scopes=()).scope == "openid"


def test_reprs_hide_secrets() -> None:
    settings = ClientSettings(client_id="ha", client_secret="s3cr3t-value")
    tokens = TokenSet(
        access_token="access-value",
        token_type="Bearer",
        id_token="id-token-value",
        expires_in=60,
        refresh_token="refresh-value",
        scope="openid",
    )
    request = AuthorizationRequest(
        url="https://op.example/authorize?state=state-value",
        state="state-value",
        nonce="nonce-value",
        code_verifier="verifier-value",
        redirect_uri="https://ha.example/cb",
    )
    text = repr(settings) + repr(tokens) + repr(request)
    for secret in (
        "s3cr3t-value",
        "access-value",
        "id-token-value",
        "refresh-value",
        "state-value",
        "nonce-value",
        "verifier-value",
    ):
        assert secret not in text
    assert "https://ha.example/cb" in text
    assert "expires_in=60" in text
