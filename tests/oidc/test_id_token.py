"""Tests for ID token validation."""

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import pytest
from joserfc.jwk import OKPKey, RSAKey

from custom_components.auth_oidc.oidc import (
    ASYMMETRIC_ALGS,
    DiscoveryError,
    IDTokenError,
    JWKSCache,
    JWKSError,
    OIDCError,
    ProviderMetadata,
    allowed_algorithms,
    fetch_provider_metadata,
    validate_id_token,
)
from custom_components.auth_oidc.oidc.id_token import _check_at_hash, _left_half_hash
from tests.fake_provider import FakeProvider, b64url, half_hash

from .support import make_settings

NOW = 1_700_000_000
NONCE = "n-0S6_WzA2Mj"
ACCESS_TOKEN = "jHkWEdUXMU1BwAsC4vtUsZwnNzrqW1vcUdJR3UO"


class Harness:
    """Mint tokens with the fake provider and validate them."""

    def __init__(self, session, provider: FakeProvider) -> None:
        self.session = session
        self.provider = provider
        provider.clock = lambda: NOW
        self.jwks: JWKSCache | None = None

    async def metadata(self) -> ProviderMetadata:
        return await fetch_provider_metadata(self.session, self.provider.discovery_url)

    def token(self, **claims_override) -> str:
        self.provider.id_token_claims_override.update(claims_override)
        return self.provider.mint_id_token(nonce=NONCE, access_token=ACCESS_TOKEN)

    async def validate(
        self, token: str | None = None, *, now: float = NOW, **options
    ) -> dict[str, object]:
        metadata = await self.metadata()
        if self.jwks is None:
            self.jwks = JWKSCache(self.session, metadata.jwks_uri)
        options.setdefault("access_token", ACCESS_TOKEN)
        options.setdefault("expected_nonce", NONCE)
        settings = options.pop("settings", make_settings())
        return await validate_id_token(
            token if token is not None else self.token(),
            jwks=self.jwks,
            metadata=metadata,
            settings=settings,
            now=now,
            **options,
        )

    async def error(self, token: str | None = None, **options) -> OIDCError:
        with pytest.raises(OIDCError) as caught:
            await self.validate(token, **options)
        return caught.value

    async def code(self, token: str | None = None, **options) -> str:
        error = await self.error(token, **options)
        assert isinstance(error, IDTokenError | JWKSError | DiscoveryError)
        return error.code


@pytest.fixture
async def id_tokens(session, provider) -> Harness:
    return Harness(session, provider)


@pytest.fixture(params=["RS256", "ES256", "EdDSA"])
async def any_alg_harness(request, session) -> AsyncIterator[Harness]:
    async with FakeProvider.running(alg=request.param) as provider:
        yield Harness(session, provider)


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
async def test_valid_tokens_pass_for_every_algorithm(session, alg: str) -> None:
    async with FakeProvider.running(alg=alg) as provider:
        claims = await Harness(session, provider).validate()
    assert claims["sub"] == provider.user["sub"]
    assert claims["nonce"] == NONCE
    assert claims["groups"] == ["admins", "ha-users"]


async def test_hs256_with_the_client_secret_when_configured(session) -> None:
    async with FakeProvider.running(alg="HS256") as provider:
        id_tokens = Harness(session, provider)
        settings = make_settings(id_token_signing_alg="HS256")
        assert (await id_tokens.validate(settings=settings))["sub"] == provider.user["sub"]
        # Not explicitly configured: the symmetric algorithm is not on the allow-list.
        assert await id_tokens.code() == "discovery_no_usable_alg"
        assert provider.requests["jwks"] == 0


async def test_hs256_signed_with_another_secret_fails(session) -> None:
    async with FakeProvider.running(
        alg="HS256", client_secret="another-client-secret-0123456789"
    ) as provider:
        settings = make_settings(id_token_signing_alg="HS256")
        assert await Harness(session, provider).code(settings=settings) == "id_token_signature"


@pytest.mark.parametrize("mode", ["other-key", "corrupt-signature"])
async def test_forged_signatures_fail(any_alg_harness, mode: str) -> None:
    any_alg_harness.provider.sign_with = mode
    assert await any_alg_harness.code() == "id_token_signature"


async def test_payload_swapped_under_a_valid_signature_fails(id_tokens) -> None:
    header, _, signature = id_tokens.token().split(".")
    forged_claims = id_tokens.provider.id_token_claims(nonce=NONCE, access_token=ACCESS_TOKEN)
    forged_claims["sub"] = "admin"
    forged_payload = b64url(json.dumps(forged_claims).encode())
    assert await id_tokens.code(f"{header}.{forged_payload}.{signature}") == "id_token_signature"


@pytest.mark.parametrize("advertised", [["RS256"], ["RS256", "none"]])
async def test_unsigned_tokens_are_refused(id_tokens, advertised) -> None:
    id_tokens.provider.discovery_override = {"id_token_signing_alg_values_supported": advertised}
    id_tokens.provider.sign_with = "none"
    assert await id_tokens.code() == "id_token_alg"


async def test_hs256_keyed_with_the_public_key_is_refused(id_tokens) -> None:
    id_tokens.provider.discovery_override = {
        "id_token_signing_alg_values_supported": ["RS256", "HS256"]
    }
    id_tokens.provider.sign_with = "hs256-public-key"
    assert await id_tokens.code() == "id_token_alg"
    # Even with HS256 configured, the key is the client secret, never the public key.
    settings = make_settings(id_token_signing_alg="HS256")
    assert await id_tokens.code(settings=settings) == "id_token_signature"


async def test_hs256_with_client_secret_needs_explicit_configuration(id_tokens) -> None:
    id_tokens.provider.discovery_override = {
        "id_token_signing_alg_values_supported": ["RS256", "HS256"]
    }
    id_tokens.provider.sign_with = "hs256-client-secret"
    assert await id_tokens.code() == "id_token_alg"


async def test_token_alg_must_match_configured_alg(id_tokens) -> None:
    id_tokens.provider.discovery_override = {
        "id_token_signing_alg_values_supported": ["RS256", "RS512"]
    }
    settings = make_settings(id_token_signing_alg="RS512")
    assert await id_tokens.code(settings=settings) == "id_token_alg"


async def test_key_published_for_encryption_is_not_used(id_tokens) -> None:
    id_tokens.provider.sign_with = "enc-key"
    assert await id_tokens.code() == "id_token_kid"


@pytest.mark.parametrize(
    ("jwk_override", "code"),
    [({"use": "enc"}, "jwks_empty"), ({"alg": "RS512"}, "id_token_kid")],
)
async def test_signing_key_unusable_for_this_token(id_tokens, jwk_override, code) -> None:
    id_tokens.provider.jwk_parameters_override = jwk_override
    assert await id_tokens.code() == code


async def test_key_published_with_private_material_is_not_used(id_tokens) -> None:
    id_tokens.provider.jwk_include_private = True
    assert await id_tokens.code() == "jwks_empty"


async def test_missing_kid_uses_the_only_key(id_tokens) -> None:
    id_tokens.provider.id_token_header_remove = {"kid"}
    assert (await id_tokens.validate())["sub"] == id_tokens.provider.user["sub"]


async def test_missing_kid_with_several_keys_is_refused(id_tokens) -> None:
    other = RSAKey.generate_key(2048, auto_kid=True).as_dict(private=False)
    id_tokens.provider.extra_jwks = [other]
    id_tokens.provider.id_token_header_remove = {"kid"}
    assert await id_tokens.code() == "id_token_kid"


async def test_unknown_kid_is_refused(id_tokens) -> None:
    id_tokens.provider.id_token_header_override = {"kid": "unknown"}
    assert await id_tokens.code() == "id_token_kid"


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://evil.example/jwks"},
        {"x5u": "https://evil.example/cert"},
        {"jwk": {"kty": "oct", "k": "c2VjcmV0"}},
        {"crit": ["exp"], "exp": 1},
        {"crit": ["b64"], "b64": False},
        {"b64": True},
        {"kid": 7},
    ],
    ids=["jku", "x5u", "jwk", "crit", "crit-b64", "b64", "kid-not-string"],
)
async def test_dangerous_header_parameters_are_refused(id_tokens, header) -> None:
    id_tokens.provider.id_token_header_override = header
    assert await id_tokens.code() == "id_token_header"
    assert id_tokens.provider.requests["jwks"] == 0


async def test_informational_x5_headers_are_ignored(id_tokens) -> None:
    id_tokens.provider.id_token_header_override = {"x5t": "abc", "x5c": ["MIIB"], "cty": "JWT"}
    assert (await id_tokens.validate())["sub"] == id_tokens.provider.user["sub"]


def segment(value: object) -> str:
    return b64url(json.dumps(value).encode())


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "a b.c.d",
        f"{b64url(b'not json')}.{segment({})}.sig",
        f"{b64url(b'{"alg":"RS256","alg":"none"}')}.{segment({})}.sig",
        f"{segment(['RS256'])}.{segment({})}.sig",
    ],
    ids=["empty", "one", "two", "four", "jwe", "space", "header-text", "header-dup", "header-list"],
)
async def test_malformed_tokens_are_invalid(id_tokens, token: str) -> None:
    assert await id_tokens.code(token) == "id_token_invalid"


@pytest.mark.parametrize(
    "payload",
    [b"[1]", b"not json", b'{"sub": "a", "sub": "b"}', b'{"exp": 1e999}'],
    ids=["array", "text", "duplicate-claims", "infinite-exp"],
)
async def test_signed_but_malformed_claims_are_invalid(id_tokens, payload: bytes) -> None:
    assert await id_tokens.code(id_tokens.provider.sign_payload(payload)) == "id_token_invalid"


async def test_non_string_alg_is_refused(id_tokens) -> None:
    id_tokens.provider.id_token_header_override = {"alg": 256}
    assert await id_tokens.code() == "id_token_alg"


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"iss": "https://evil.example"}, "id_token_issuer"),
        ({"iss": None}, "id_token_issuer"),
        ({"aud": "someone-else"}, "id_token_audience"),
        ({"aud": ["ha-client", "evil"]}, "id_token_audience"),
        ({"aud": ["evil", "ha-client"]}, "id_token_audience"),
        ({"aud": []}, "id_token_audience"),
        ({"aud": 42}, "id_token_audience"),
        ({"aud": None}, "id_token_audience"),
        ({"azp": "evil"}, "id_token_azp"),
        ({"exp": NOW - 61}, "id_token_expired"),
        ({"exp": str(NOW + 300)}, "id_token_expired"),
        ({"exp": True}, "id_token_expired"),
        ({"exp": None}, "id_token_expired"),
        ({"iat": NOW + 61}, "id_token_iat"),
        ({"iat": NOW - 661}, "id_token_iat"),
        ({"iat": "now"}, "id_token_iat"),
        ({"iat": None}, "id_token_iat"),
        ({"nbf": NOW + 61}, "id_token_nbf"),
        ({"nbf": "later"}, "id_token_nbf"),
        ({"nonce": "replayed"}, "id_token_nonce"),
        ({"nonce": 1}, "id_token_nonce"),
        ({"nonce": None}, "id_token_nonce"),
        ({"nonce": "ñ"}, "id_token_nonce"),
        ({"sub": ""}, "id_token_sub"),
        ({"sub": "x" * 256}, "id_token_sub"),
        ({"sub": "usér"}, "id_token_sub"),
        ({"sub": 12345}, "id_token_sub"),
        ({"sub": None}, "id_token_sub"),
        ({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, "id_token_at_hash"),
        ({"at_hash": 1}, "id_token_at_hash"),
    ],
)
async def test_bad_claims_are_refused(id_tokens, claims, code: str) -> None:
    id_tokens.provider.id_token_claims_remove = {name for name, v in claims.items() if v is None}
    token = id_tokens.token(**{name: v for name, v in claims.items() if v is not None})
    assert await id_tokens.code(token) == code


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": ["ha-client"]},
        {"aud": ["ha-client", "ha-client"]},
        {"azp": "ha-client"},
        {"exp": NOW - 59},
        {"exp": NOW + 0.5},
        {"iat": NOW + 59},
        {"iat": NOW - 659},
        {"iat": float(NOW)},
        {"nbf": NOW + 59},
        {"sub": "x" * 255},
        {"sub": "00000000-0000-0000-0000-000000000000|~!@#$%^&*()"},
    ],
)
async def test_boundary_claims_pass(id_tokens, claims) -> None:
    assert (await id_tokens.validate(id_tokens.token(**claims)))["sub"]


async def test_leeway_and_max_age_are_configurable(id_tokens) -> None:
    token = id_tokens.token(exp=NOW - 5, iat=NOW - 100)
    assert await id_tokens.code(token, leeway=0) == "id_token_expired"
    assert await id_tokens.code(token, leeway=10, max_iat_age=50) == "id_token_iat"
    assert (await id_tokens.validate(token, leeway=10, max_iat_age=100))["exp"] == NOW - 5


async def test_missing_at_hash_is_accepted(id_tokens) -> None:
    id_tokens.provider.include_at_hash = False
    assert "at_hash" not in await id_tokens.validate()


async def test_at_hash_is_only_checked_against_a_given_access_token(id_tokens) -> None:
    token = id_tokens.token(at_hash="wrong")
    assert (await id_tokens.validate(token, access_token=None))["at_hash"] == "wrong"
    assert await id_tokens.code(token, access_token="other") == "id_token_at_hash"


async def test_at_hash_of_another_access_token_is_refused(id_tokens) -> None:
    assert await id_tokens.code(access_token=ACCESS_TOKEN + "x") == "id_token_at_hash"


@pytest.mark.parametrize(
    ("alg", "hash_name"),
    [("RS256", "sha256"), ("ES384", "sha384"), ("PS512", "sha512"), ("EdDSA", "sha512")],
)
async def test_at_hash_uses_the_left_half_of_the_algorithm_hash(
    session, alg: str, hash_name: str
) -> None:
    digest = hashlib.new(hash_name, ACCESS_TOKEN.encode()).digest()
    expected = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
    async with FakeProvider.running(alg=alg) as provider:
        id_tokens = Harness(session, provider)
        provider.include_at_hash = False
        assert (await id_tokens.validate(id_tokens.token(at_hash=expected)))["at_hash"] == expected


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])
@pytest.mark.parametrize("digest_name", ["sha512", "sha256"])
async def test_ed25519_at_hash_may_use_sha512_or_pocket_ids_sha256(
    session, alg: str, digest_name: str
) -> None:
    async with FakeProvider.running(alg=alg) as provider:
        provider.at_hash_digest = digest_name
        id_tokens = Harness(session, provider)
        claims = await id_tokens.validate()
        assert claims["at_hash"] == half_hash(ACCESS_TOKEN, alg, digest_name)
        # Either digest must still be the hash of this very access token.
        assert await id_tokens.code(access_token=ACCESS_TOKEN + "x") == "id_token_at_hash"


@pytest.mark.parametrize(
    ("alg", "digest_name"),
    [
        ("EdDSA", "sha384"),
        ("Ed25519", "sha384"),
        ("RS256", "sha512"),
        ("ES256", "sha512"),
        ("PS256", "sha384"),
        ("RS384", "sha256"),
        ("ES512", "sha256"),
        ("PS512", "sha256"),
    ],
)
async def test_other_at_hash_digests_are_refused(session, alg: str, digest_name: str) -> None:
    async with FakeProvider.running(alg=alg) as provider:
        provider.at_hash_digest = digest_name
        assert await Harness(session, provider).code() == "id_token_at_hash"


@pytest.mark.parametrize("digest_name", ["sha256", "sha512"])
def test_ed448_at_hash_stays_exact(digest_name: str) -> None:
    key = OKPKey.generate_key("Ed448")
    claims = {"at_hash": half_hash(ACCESS_TOKEN, "EdDSA", digest_name)}
    with pytest.raises(IDTokenError) as caught:
        _check_at_hash(claims, access_token=ACCESS_TOKEN, alg="EdDSA", key=key)
    assert caught.value.code == "id_token_at_hash"
    shake_half = {"at_hash": _left_half_hash(ACCESS_TOKEN, alg="EdDSA", key=key)}
    _check_at_hash(shake_half, access_token=ACCESS_TOKEN, alg="EdDSA", key=key)


async def test_every_accepted_at_hash_is_compared(session, monkeypatch) -> None:
    compared: list[bytes] = []
    compare_digest = hmac.compare_digest

    def recording_compare(given: bytes, expected: bytes) -> bool:
        compared.append(expected)
        return compare_digest(given, expected)

    async with FakeProvider.running(alg="EdDSA") as provider:
        id_tokens = Harness(session, provider)
        await id_tokens.metadata()
        monkeypatch.setattr(hmac, "compare_digest", recording_compare)
        # SHA-512 matches first; the SHA-256 candidate is still compared.
        await id_tokens.validate()
    assert [value for value in compared if value != NONCE.encode()] == [
        half_hash(ACCESS_TOKEN, "EdDSA").encode(),
        half_hash(ACCESS_TOKEN, "EdDSA", "sha256").encode(),
    ]


def test_at_hash_for_ed448_uses_shake256() -> None:
    key = OKPKey.generate_key("Ed448")
    digest = hashlib.shake_256(ACCESS_TOKEN.encode()).digest(114)
    expected = base64.urlsafe_b64encode(digest[:57]).rstrip(b"=").decode()
    assert _left_half_hash(ACCESS_TOKEN, alg="EdDSA", key=key) == expected


class TestAllowedAlgorithms:
    async def test_defaults_to_advertised_asymmetric_algorithms(self, id_tokens) -> None:
        id_tokens.provider.discovery_override = {
            "id_token_signing_alg_values_supported": ["HS256", "ES256", "none", "RS256"]
        }
        metadata = await id_tokens.metadata()
        assert allowed_algorithms(metadata, make_settings()) == ("RS256", "ES256")

    @pytest.mark.parametrize(
        ("advertised", "options", "expected"),
        [
            (["RS256", "HS256"], {"id_token_signing_alg": "HS256"}, ("HS256",)),
            (["RS256", "ES256"], {"id_token_signing_alg": "ES256"}, ("ES256",)),
            (["RS256"], {"id_token_signing_alg": "ES256"}, ()),
            (["HS256"], {"id_token_signing_alg": "HS256", "client_secret": None}, ()),
            (["HS256"], {}, ()),
            (["RS256", "XYZ"], {"id_token_signing_alg": "XYZ"}, ()),
        ],
    )
    async def test_configured_algorithm_must_be_advertised_and_usable(
        self, id_tokens, advertised, options, expected
    ) -> None:
        id_tokens.provider.discovery_override = {
            "id_token_signing_alg_values_supported": advertised
        }
        metadata = await id_tokens.metadata()
        settings = make_settings(**options)
        if expected:
            assert allowed_algorithms(metadata, settings) == expected
        else:
            with pytest.raises(DiscoveryError) as caught:
                allowed_algorithms(metadata, settings)
            assert caught.value.code == "discovery_no_usable_alg"
