"""Retrieval and caching of the provider's JSON Web Key Set (RFC 7517)."""

import asyncio
import logging
import ssl
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, cast

import aiohttp
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import DictKey, JWKRegistry, Key, KeySet, RSAKey

from .errors import ErrorCode, IDTokenError, JWKSError
from .http import (
    DEFAULT_TIMEOUT,
    FailureCodes,
    decode_json_object,
    raise_for_status,
    send_request,
)
from .urls import is_secure_url

_LOGGER = logging.getLogger(__name__)

DEFAULT_JWKS_TTL: Final = 3600.0
DEFAULT_MIN_REFETCH_INTERVAL: Final = 60.0
# Same reasoning as the metadata cache: ride out a day-long outage of the JWKS endpoint.
DEFAULT_JWKS_MAX_STALE: Final = 24 * 3600.0
_MAX_JWKS_REDIRECTS: Final = 3
_MIN_RSA_KEY_BITS: Final = 2048
_FAILURES: Final = FailureCodes(
    error=JWKSError,
    unreachable=ErrorCode.JWKS_UNREACHABLE,
    tls=ErrorCode.JWKS_UNREACHABLE,
    http_status=ErrorCode.JWKS_UNREACHABLE,
    not_json=ErrorCode.JWKS_INVALID,
)
# JWK members that only private or symmetric keys carry (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
_PRIVATE_KEY_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# Key type and curves each JWS algorithm needs (RFC 7518 §3, RFC 8037 §3.1, RFC 9864 §2).
KEY_REQUIREMENTS: Final[Mapping[str, tuple[str, frozenset[str] | None]]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    "Ed25519": ("OKP", frozenset({"Ed25519"})),
}


@dataclass(frozen=True, slots=True)
class KeySetSummary:
    """Public facts about the cached key set: (kid, key type, alg) per key and its age in s."""

    keys: tuple[tuple[str | None, str, str | None], ...]
    age: float


def parse_jwks(document: Mapping[str, object]) -> KeySet:
    """Return the public signature-verification keys of a JWK Set document."""
    entries = document.get("keys")
    # RFC 7517 §5: a JWK Set is an object whose "keys" member is an array of JWKs.
    if not isinstance(entries, list):
        raise JWKSError(ErrorCode.JWKS_INVALID, '"keys" must be an array')
    keys = [
        key
        for entry in entries
        if isinstance(entry, dict) and (key := _import_verification_key(entry)) is not None
    ]
    if not keys:
        raise JWKSError(ErrorCode.JWKS_EMPTY, "JWK Set holds no usable signature key")
    return KeySet(keys)


def _import_verification_key(entry: dict[str, object]) -> Key | None:
    """Import one JWK, or return None when it must not verify ID token signatures."""
    kid = entry.get("kid")
    if (reason := _unusable_reason(entry)) is not None:
        _LOGGER.debug("Ignoring JWK kid=%s: %s", kid, reason)
        return None
    try:
        with warnings.catch_warnings():
            # Key strength is enforced below; joserfc's advisory warning would only add noise.
            warnings.simplefilter("ignore", SecurityWarning)
            key = JWKRegistry.import_key(cast(DictKey, entry))
    except (JoseError, ValueError, TypeError) as err:
        _LOGGER.debug("Ignoring unusable JWK kid=%s: %s", kid, type(err).__name__)
        return None
    # RFC 7518 §3.3: RSA keys must be at least 2048 bits.
    if isinstance(key, RSAKey) and key.public_key.key_size < _MIN_RSA_KEY_BITS:
        _LOGGER.debug("Ignoring RSA JWK kid=%s shorter than 2048 bits", kid)
        return None
    return key


def _unusable_reason(entry: dict[str, object]) -> str | None:
    """Return why a JWK must not verify signatures, or None when it may."""
    # RFC 7517 §4.2: a key whose "use" is not "sig" is not for signatures.
    if "use" in entry and entry["use"] != "sig":
        return f"use is {entry['use']}"
    key_ops = entry.get("key_ops")
    # RFC 7517 §4.3: key_ops, when present, must allow "verify".
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return "key_ops lacks verify"
    # OIDC Core 1.0 §10.1: HS* keys derive from the client secret, never from the JWK Set.
    if entry.get("kty") == "oct":
        return "symmetric key"
    # RFC 7517 §9.2: a published private key is compromised; never use it.
    if _PRIVATE_KEY_MEMBERS & entry.keys():
        _LOGGER.warning(
            "The JWKS holds private key material (kid=%s); ignoring it", entry.get("kid")
        )
        return "private key material"
    return None


def key_fits_algorithm(key: Key, alg: str) -> bool:
    """Return whether `key` may verify a signature made with `alg` (a `KEY_REQUIREMENTS` key)."""
    key_type, curves = KEY_REQUIREMENTS[alg]
    # RFC 7517 §4.4: a key restricted to another "alg" must not be used with this one.
    if key.alg is not None and key.alg != alg:
        return False
    # RFC 8725 §3.1 / RFC 7518 §3.4: the key type and curve must match the algorithm.
    return key.key_type == key_type and (curves is None or key.get("crv") in curves)


class JWKSCache:
    """Cache the provider's signature keys and refetch them on key rotation.

    Keys are refreshed after `ttl` seconds, and at most once per `min_refetch_interval`
    when a token names an unknown `kid`. A failed refresh keeps the last good key set,
    which keeps being served for up to `max_stale` seconds past its TTL.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        jwks_uri: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = DEFAULT_JWKS_TTL,
        min_refetch_interval: float = DEFAULT_MIN_REFETCH_INTERVAL,
        max_stale: float = DEFAULT_JWKS_MAX_STALE,
        timeout: float = DEFAULT_TIMEOUT,
        allow_insecure_http: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Create an empty cache; nothing is fetched until keys are needed."""
        self._session = session
        self._jwks_uri = jwks_uri
        self._clock = clock
        self._ttl = ttl
        self._min_refetch_interval = min_refetch_interval
        self._max_stale = max_stale
        self._timeout = timeout
        self._allow_insecure_http = allow_insecure_http
        self._ssl_context = ssl_context
        self._lock = asyncio.Lock()
        self._key_set: KeySet | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None

    @property
    def jwks_uri(self) -> str:
        """Return the JWK Set URL this cache fetches."""
        return self._jwks_uri

    def summary(self) -> KeySetSummary | None:
        """Describe the cached keys (ids, types, algorithms) and their age without fetching."""
        if self._key_set is None:
            return None
        return KeySetSummary(
            keys=tuple((key.kid, key.key_type, key.alg) for key in self._key_set.keys),
            age=self._clock() - self._fetched_at,
        )

    async def key_set(self) -> KeySet:
        """Return the current key set, fetching it when absent or past its TTL."""
        async with self._lock:
            cached = self._key_set
            age = self._clock() - self._fetched_at
            if cached is not None and age < self._ttl:
                return cached
            try:
                return await self._fetch_locked()
            except JWKSError as err:
                if cached is None or age >= self._ttl + self._max_stale:
                    raise
                _LOGGER.warning(
                    "Refreshing JWKS from %s failed (%s); using keys fetched %.0f s ago",
                    self._jwks_uri,
                    err.code,
                    age,
                )
                return cached

    async def key_for(self, kid: str | None, alg: str) -> Key:
        """Return the single key that verifies a token with header `kid` and `alg`.

        An unknown `kid` triggers one rate-limited refetch (OIDC Core 1.0 §10.1.1 key
        rotation). Raises `IDTokenError("id_token_kid")` when no single key fits, and the
        `JWKSError` of a failed refetch.
        """
        # RFC 8725 §3.1: only allow-listed asymmetric algorithms are verified with JWKS keys.
        if alg not in KEY_REQUIREMENTS:
            raise IDTokenError(ErrorCode.ID_TOKEN_ALG, f"{alg} is not verified with JWKS keys")
        candidates = _matching_keys(await self.key_set(), kid, alg)
        if not candidates:
            refreshed = await self._refetch_rate_limited()
            candidates = _matching_keys(refreshed, kid, alg)
        if not candidates:
            raise IDTokenError(ErrorCode.ID_TOKEN_KID, f"no {alg} key with kid={kid} in the JWKS")
        # OIDC Core 1.0 §10.1: without an unambiguous kid the verification key is unknown.
        if len(candidates) > 1:
            raise IDTokenError(
                ErrorCode.ID_TOKEN_KID, f"{len(candidates)} {alg} keys match kid={kid}"
            )
        return candidates[0]

    async def _refetch_rate_limited(self) -> KeySet:
        """Refetch the key set unless the last attempt was too recent."""
        async with self._lock:
            last_attempt = self._last_attempt
            cached = self._key_set
            if (
                cached is not None
                and last_attempt is not None
                and self._clock() - last_attempt < self._min_refetch_interval
            ):
                _LOGGER.debug("Not refetching JWKS from %s: fetched recently", self._jwks_uri)
                return cached
            return await self._fetch_locked()

    async def _fetch_locked(self) -> KeySet:
        """Fetch, parse and store the key set; the caller holds the lock."""
        self._last_attempt = self._clock()
        response = await send_request(
            self._session,
            "GET",
            self._jwks_uri,
            failures=_FAILURES,
            timeout=self._timeout,
            max_redirects=_MAX_JWKS_REDIRECTS,
            ssl_context=self._ssl_context,
        )
        # OIDC Core 1.0 §10.1.1 / §16.17: keys must come over TLS, also after redirects.
        if not is_secure_url(response.url, allow_insecure_http=self._allow_insecure_http):
            raise JWKSError(ErrorCode.JWKS_UNREACHABLE, f"redirected to insecure {response.url}")
        raise_for_status(response, _FAILURES)
        key_set = parse_jwks(decode_json_object(response, _FAILURES))
        self._key_set = key_set
        self._fetched_at = self._clock()
        _LOGGER.debug(
            "Fetched JWKS from %s with kids %s", self._jwks_uri, [key.kid for key in key_set]
        )
        return key_set


def _matching_keys(key_set: KeySet, kid: str | None, alg: str) -> list[Key]:
    """Return the keys with this `kid` (any when None) that fit `alg`."""
    return [
        key for key in key_set if (kid is None or key.kid == kid) and key_fits_algorithm(key, alg)
    ]
