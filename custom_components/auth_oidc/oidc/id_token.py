"""ID token validation (OpenID Connect Core 1.0 §3.1.3.7)."""

import base64
import binascii
import hashlib
import hmac
import re
import warnings
from collections.abc import Mapping
from typing import Final, cast

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError, SecurityWarning
from joserfc.jwk import Key, OctKey

from ._json import JSONObjectError, loads_object
from .errors import DiscoveryError, ErrorCode, IDTokenError
from .jwks import JWKSCache
from .models import ClientSettings, LogoutToken, ProviderMetadata

ASYMMETRIC_ALGS: Final = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
)
HMAC_ALGS: Final = ("HS256", "HS384", "HS512")
DEFAULT_LEEWAY: Final = 60.0
DEFAULT_MAX_IAT_AGE: Final = 600.0
_MAX_SUBJECT_LENGTH: Final = 255
# Header parameters that point at, or embed, a verification key chosen by the token itself.
_KEY_SOURCE_HEADER_PARAMS: Final = ("jku", "x5u", "jwk")
_COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_JWE_SEGMENT_COUNT: Final = 5
BACKCHANNEL_LOGOUT_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
# RFC 8725 §3.11: a logout token is explicitly typed; "JWT" is tolerated from older providers
# (an ID token still cannot pass: it has no events claim and carries a nonce).
_LOGOUT_TOKEN_TYPES: Final = frozenset({"logout+jwt", "application/logout+jwt", "jwt"})


def allowed_algorithms(metadata: ProviderMetadata, settings: ClientSettings) -> tuple[str, ...]:
    """Return the ID token signing algorithms this client accepts from this provider."""
    configured = settings.id_token_signing_alg
    if configured is None:
        candidates: tuple[str, ...] = ASYMMETRIC_ALGS
    elif configured in HMAC_ALGS:
        # OIDC Core 1.0 §10.1: the HMAC key is the client secret; no secret, no key.
        candidates = (configured,) if settings.client_secret else ()
    else:
        candidates = (configured,) if configured in ASYMMETRIC_ALGS else ()
    return usable_algorithms(metadata, candidates)


def usable_algorithms(metadata: ProviderMetadata, candidates: tuple[str, ...]) -> tuple[str, ...]:
    """Return the `candidates` the provider signs ID tokens with; raise if there are none."""
    # RFC 8725 §3.1: an explicit allow-list, intersected with what the provider signs with.
    allowed = tuple(
        alg for alg in candidates if alg in metadata.id_token_signing_alg_values_supported
    )
    if not allowed:
        raise DiscoveryError(
            ErrorCode.DISCOVERY_NO_USABLE_ALG,
            f"none of {list(candidates)} is among the provider's "
            f"{list(metadata.id_token_signing_alg_values_supported)}",
        )
    return allowed


async def validate_id_token(
    raw: str,
    *,
    jwks: JWKSCache,
    metadata: ProviderMetadata,
    settings: ClientSettings,
    expected_nonce: str | None,
    now: float,
    leeway: float = DEFAULT_LEEWAY,
    max_iat_age: float = DEFAULT_MAX_IAT_AGE,
    access_token: str | None = None,
) -> dict[str, object]:
    """Verify the ID token's signature and claims and return its claims.

    Tokens whose header carries `jku`, `x5u` or `jwk` are refused outright rather than
    having those members ignored: no legitimate provider needs them on an ID token.
    `expected_nonce` is None only for an ID token from a refresh grant (OIDC Core 1.0 §12.2).
    """
    claims, alg, key = await _verified_jws(raw, jwks=jwks, metadata=metadata, settings=settings)
    _check_claims(
        claims,
        issuer=metadata.issuer,
        client_id=settings.client_id,
        expected_nonce=expected_nonce,
        now=now,
        leeway=leeway,
        max_iat_age=max_iat_age,
    )
    if access_token is not None:
        _check_at_hash(claims, access_token=access_token, alg=alg, key=key)
    return claims


async def _verified_jws(
    raw: str,
    *,
    jwks: JWKSCache,
    metadata: ProviderMetadata,
    settings: ClientSettings,
    allowed_types: frozenset[str] | None = None,
) -> tuple[dict[str, object], str, Key]:
    """Verify a provider-signed JWT's header and signature; return its claims, alg and key."""
    header = _untrusted_header(raw)
    alg = header.get("alg")
    # OIDC Core 1.0 §3.1.3.7 step 7 / RFC 8725 §3.1: alg must be allow-listed; never "none".
    if not isinstance(alg, str) or alg not in allowed_algorithms(metadata, settings):
        raise IDTokenError(ErrorCode.ID_TOKEN_ALG, f"algorithm {alg!r} is not allowed")
    _check_header_params(header)
    typ = header.get("typ")
    # RFC 8725 §3.11: an explicitly typed token must be of the expected type.
    if (
        allowed_types is not None
        and typ is not None
        and (not isinstance(typ, str) or typ.lower() not in allowed_types)
    ):
        raise IDTokenError(ErrorCode.ID_TOKEN_HEADER, f"typ {typ!r} is not expected here")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise IDTokenError(ErrorCode.ID_TOKEN_HEADER, "kid must be a string")
    key = _client_secret_key(settings) if alg in HMAC_ALGS else await jwks.key_for(kid, alg)
    return _verified_claims(raw, key, alg), alg, key


def _untrusted_header(raw: str) -> dict[str, object]:
    """Decode the JOSE header for key selection only; nothing in it is trusted yet."""
    if raw.count(".") + 1 == _JWE_SEGMENT_COUNT:
        raise IDTokenError(ErrorCode.ID_TOKEN_INVALID, "encrypted ID tokens are not supported")
    if not _COMPACT_JWS.fullmatch(raw):
        raise IDTokenError(ErrorCode.ID_TOKEN_INVALID, "not a compact JWS")
    encoded_header = raw.split(".", 1)[0]
    try:
        return loads_object(
            base64.urlsafe_b64decode(encoded_header + "=" * (-len(encoded_header) % 4))
        )
    except (binascii.Error, ValueError) as err:
        raise IDTokenError(ErrorCode.ID_TOKEN_INVALID, "malformed JOSE header") from err


def _check_header_params(header: Mapping[str, object]) -> None:
    """Refuse header parameters that would let the token choose its own key or semantics."""
    # RFC 8725 §3.10 / OIDC Core 1.0 §10.1: keys come from the provider's jwks_uri only.
    if present := [name for name in _KEY_SOURCE_HEADER_PARAMS if name in header]:
        raise IDTokenError(ErrorCode.ID_TOKEN_HEADER, f"refused header parameters {present}")
    # RFC 7515 §4.1.11: critical extensions must be understood; this client knows none.
    if "crit" in header:
        raise IDTokenError(ErrorCode.ID_TOKEN_HEADER, "critical header extensions are refused")
    # RFC 7797 §3: "b64" changes the signing input; ID tokens never use it.
    if "b64" in header:
        raise IDTokenError(ErrorCode.ID_TOKEN_HEADER, "b64 header parameter is refused")


def _client_secret_key(settings: ClientSettings) -> OctKey:
    """Return the HMAC key made of the client secret's UTF-8 octets."""
    # allowed_algorithms only admits HS* when a client secret is configured.
    secret = cast(str, settings.client_secret)
    # OIDC Core 1.0 §10.1: the symmetric key is the octets of the UTF-8 client_secret.
    return OctKey.import_key(secret.encode("utf-8"))


def _verified_claims(raw: str, key: Key, alg: str) -> dict[str, object]:
    """Verify the signature with exactly `alg` and `key`, then parse the claims."""
    # RFC 8725 §3.1: the registry only admits the one algorithm selected above.
    registry = jws.JWSRegistry(algorithms=[alg], strict_check_header=False)
    try:
        with warnings.catch_warnings():
            # joserfc warns that "EdDSA" is superseded by "Ed25519" (RFC 9864); still valid.
            warnings.simplefilter("ignore", SecurityWarning)
            signature = jws.deserialize_compact(raw, key, registry=registry)
    except BadSignatureError as err:
        # OIDC Core 1.0 §3.1.3.7 step 6: the signature must verify with the provider's key.
        raise IDTokenError(ErrorCode.ID_TOKEN_SIGNATURE, f"bad {alg} signature") from err
    except (JoseError, ValueError) as err:
        raise IDTokenError(ErrorCode.ID_TOKEN_INVALID, type(err).__name__) from err
    try:
        return loads_object(signature.payload)
    except JSONObjectError as err:
        raise IDTokenError(ErrorCode.ID_TOKEN_INVALID, f"claims: {err}") from err


def _check_claims(
    claims: Mapping[str, object],
    *,
    issuer: str,
    client_id: str,
    expected_nonce: str | None,
    now: float,
    leeway: float,
    max_iat_age: float,
) -> None:
    """Apply the claim checks of OIDC Core 1.0 §3.1.3.7 steps 2-11."""
    # OIDC Core 1.0 §3.1.3.7 step 2: iss must exactly match the provider's issuer.
    if claims.get("iss") != issuer:
        raise IDTokenError(ErrorCode.ID_TOKEN_ISSUER, "iss does not match the issuer")

    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    # OIDC Core 1.0 §3.1.3.7 step 3: aud must contain client_id (string or array).
    if not isinstance(audiences, list) or client_id not in audiences:
        raise IDTokenError(ErrorCode.ID_TOKEN_AUDIENCE, "aud does not contain the client_id")
    # OIDC Core 1.0 §3.1.3.7 step 3 / RFC 8725 §3.9: every other audience is untrusted,
    # which also makes the multiple-audience azp requirement of step 4 unreachable.
    if any(entry != client_id for entry in audiences):
        raise IDTokenError(ErrorCode.ID_TOKEN_AUDIENCE, "aud contains untrusted audiences")
    # OIDC Core 1.0 §3.1.3.7 step 5: an azp claim must be our client_id.
    if "azp" in claims and claims["azp"] != client_id:
        raise IDTokenError(ErrorCode.ID_TOKEN_AZP, "azp is not the client_id")

    expires_at = _numeric_date(claims, "exp", ErrorCode.ID_TOKEN_EXPIRED)
    # OIDC Core 1.0 §3.1.3.7 step 9: the current time must be before exp (with clock skew).
    if now - leeway >= expires_at:
        raise IDTokenError(ErrorCode.ID_TOKEN_EXPIRED, "ID token has expired")

    issued_at = _numeric_date(claims, "iat", ErrorCode.ID_TOKEN_IAT)
    # OIDC Core 1.0 §3.1.3.7 step 10: refuse tokens issued too far from the current time.
    if issued_at > now + leeway:
        raise IDTokenError(ErrorCode.ID_TOKEN_IAT, "iat is in the future")
    if issued_at < now - max_iat_age - leeway:
        raise IDTokenError(ErrorCode.ID_TOKEN_IAT, "iat is too far in the past")

    # RFC 7519 §4.1.5: the token must not be accepted before nbf.
    if "nbf" in claims and _numeric_date(claims, "nbf", ErrorCode.ID_TOKEN_NBF) > now + leeway:
        raise IDTokenError(ErrorCode.ID_TOKEN_NBF, "nbf is in the future")

    nonce = claims.get("nonce")
    # OIDC Core 1.0 §3.1.3.7 step 11: nonce must equal the value sent in the request.
    # §12.2: a refreshed ID token comes from no authorization request, so it has none to match.
    if expected_nonce is not None and (
        not isinstance(nonce, str)
        or not hmac.compare_digest(nonce.encode(), expected_nonce.encode())
    ):
        raise IDTokenError(ErrorCode.ID_TOKEN_NONCE, "nonce does not match the request")

    subject = claims.get("sub")
    # OIDC Core 1.0 §2 / RFC 8725 §3.8: sub is required, at most 255 ASCII characters.
    if (
        not isinstance(subject, str)
        or not 0 < len(subject) <= _MAX_SUBJECT_LENGTH
        or not subject.isascii()
    ):
        raise IDTokenError(ErrorCode.ID_TOKEN_SUB, "sub is missing or malformed")


def _numeric_date(claims: Mapping[str, object], name: str, code: ErrorCode) -> int | float:
    """Return a required NumericDate claim (RFC 7519 §2) or raise with `code`."""
    value = claims.get(name)
    # RFC 7519 §2: NumericDate is a JSON number (the parser already refuses non-finite ones).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IDTokenError(code, f"{name} is missing or not a number")
    return value


def _check_at_hash(claims: Mapping[str, object], *, access_token: str, alg: str, key: Key) -> None:
    """Verify the optional at_hash claim against the access token."""
    at_hash = claims.get("at_hash")
    # OIDC Core 1.0 §3.1.3.8: at_hash is optional in the code flow, but must match if present.
    if at_hash is None:
        return
    if not isinstance(at_hash, str):
        raise IDTokenError(ErrorCode.ID_TOKEN_AT_HASH, "at_hash is not a string")
    # OIDC Core 1.0 §3.2.2.9: compare with the left half of the access token's hash; every
    # accepted value is compared in constant time, without stopping at the first match.
    matches = [
        hmac.compare_digest(at_hash.encode(), expected.encode())
        for expected in _accepted_at_hashes(access_token, alg=alg, key=key)
    ]
    if not any(matches):
        raise IDTokenError(ErrorCode.ID_TOKEN_AT_HASH, "at_hash does not match the access token")


def _accepted_at_hashes(access_token: str, *, alg: str, key: Key) -> tuple[str, ...]:
    """Return the at_hash values that bind `access_token` to an ID token signed with `alg`."""
    expected = _left_half_hash(access_token, alg=alg, key=key)
    if alg in ("EdDSA", "Ed25519") and key.get("crv") != "Ed448":
        # OIDC Core 1.0 §3.1.3.6 takes the hash of the alg's JWA definition, and JWA names
        # none for EdDSA (RFC 8037). The OpenID Connect working group reads SHA-512 for
        # Ed25519; Pocket ID (fosite's ComputeHash: SHA-256 unless the alg ends in 384 or
        # 512) and Glewlwyd use SHA-256. Accepting both keeps the binding: the claim sits inside
        # the signed ID token, both halves are collision resistant, and in the code flow the
        # claim is optional anyway (§3.1.3.8), as the access token came straight from the
        # token endpoint. Every other algorithm stays exact.
        return (expected, _encoded_left_half(hashlib.sha256(access_token.encode()).digest()))
    return (expected,)


def _left_half_hash(value: str, *, alg: str, key: Key) -> str:
    """Return base64url of the left half of the alg's hash of `value` (OIDC Core 1.0 §3.1.3.6)."""
    data = value.encode()
    if alg == "EdDSA" and key.get("crv") == "Ed448":
        digest = hashlib.shake_256(data).digest(114)
    elif alg in ("EdDSA", "Ed25519"):
        digest = hashlib.sha512(data).digest()
    else:
        digest = hashlib.new(f"sha{alg[-3:]}", data).digest()
    return _encoded_left_half(digest)


def _encoded_left_half(digest: bytes) -> str:
    """Return base64url, unpadded, of the left half of `digest`."""
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


async def validate_logout_token(
    raw: str,
    *,
    jwks: JWKSCache,
    metadata: ProviderMetadata,
    settings: ClientSettings,
    now: float,
    leeway: float = DEFAULT_LEEWAY,
    max_iat_age: float = DEFAULT_MAX_IAT_AGE,
) -> LogoutToken:
    """Verify a back-channel logout token (Back-Channel Logout 1.0 §2.6) and return it."""
    try:
        # §2.6 step 2: signature and algorithm checked as for an ID token.
        claims, _, _ = await _verified_jws(
            raw,
            jwks=jwks,
            metadata=metadata,
            settings=settings,
            allowed_types=_LOGOUT_TOKEN_TYPES,
        )
    except IDTokenError as err:
        raise IDTokenError(ErrorCode.LOGOUT_TOKEN_INVALID, err.detail or err.code) from err
    return _logout_claims(
        claims,
        issuer=metadata.issuer,
        client_id=settings.client_id,
        now=now,
        leeway=leeway,
        max_iat_age=max_iat_age,
    )


def _logout_claims(
    claims: Mapping[str, object],
    *,
    issuer: str,
    client_id: str,
    now: float,
    leeway: float,
    max_iat_age: float,
) -> LogoutToken:
    """Apply the claim checks of Back-Channel Logout 1.0 §2.6 steps 3-8."""

    def invalid(detail: str) -> IDTokenError:
        return IDTokenError(ErrorCode.LOGOUT_TOKEN_INVALID, detail)

    # §2.6 step 3: iss, aud and iat as for an ID token (OIDC Core 1.0 §3.1.3.7).
    if claims.get("iss") != issuer:
        raise invalid("iss does not match the issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    # RFC 8725 §3.9: our client_id, and no audience we do not trust.
    if not isinstance(audiences, list) or client_id not in audiences:
        raise invalid("aud does not contain the client_id")
    if any(entry != client_id for entry in audiences):
        raise invalid("aud contains untrusted audiences")
    issued_at = claims.get("iat")
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        raise invalid("iat is missing or not a number")
    if issued_at > now + leeway or issued_at < now - max_iat_age - leeway:
        raise invalid("iat is too far from the current time")
    expires_at = claims.get("exp")
    # RFC 7519 §4.1.4: an exp, when present, must not have passed.
    if expires_at is not None and (
        isinstance(expires_at, bool)
        or not isinstance(expires_at, int | float)
        or now - leeway >= expires_at
    ):
        raise invalid("exp is malformed or has passed")
    # §2.6 step 4: sub, sid, or both.
    subject, session_id = claims.get("sub"), claims.get("sid")
    if subject is None and session_id is None:
        raise invalid("neither sub nor sid")
    if subject is not None and (
        not isinstance(subject, str) or not 0 < len(subject) <= _MAX_SUBJECT_LENGTH
    ):
        raise invalid("sub is malformed")
    if session_id is not None and (not isinstance(session_id, str) or not session_id):
        raise invalid("sid is malformed")
    # §2.6 step 5: events must hold the back-channel logout event, a JSON object.
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise invalid("events lacks the back-channel logout event")
    # §2.6 step 6: a nonce is prohibited, so an ID token can never pass as a logout token.
    if "nonce" in claims:
        raise invalid("a nonce is not allowed")
    # §2.4: jti is required; the caller refuses a jti it has seen (replay, §2.6 step 7).
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_SUBJECT_LENGTH:
        raise invalid("jti is missing or malformed")
    return LogoutToken(subject=subject, session_id=session_id, jti=jti, issued_at=float(issued_at))
