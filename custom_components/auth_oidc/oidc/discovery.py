"""OpenID Provider metadata discovery (OpenID Connect Discovery 1.0) with a refreshing cache."""

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from .errors import DiscoveryError, ErrorCode
from .http import (
    DEFAULT_TIMEOUT,
    FailureCodes,
    decode_json_object,
    raise_for_status,
    send_request,
)
from .id_token import ASYMMETRIC_ALGS, HMAC_ALGS
from .models import ProviderMetadata
from .urls import is_absolute_http_url, is_secure_url

_LOGGER = logging.getLogger(__name__)

WELL_KNOWN_PATH: Final = "/.well-known/openid-configuration"
DEFAULT_METADATA_TTL: Final = 3600.0
# Seconds a failed discovery fetch is remembered before the next try.
DISCOVERY_RETRY_INTERVAL: Final = 5.0
# Serving day-old metadata keeps logins working through a provider's discovery outage,
# while a longer outage surfaces as an error instead of silently trusting old endpoints.
DEFAULT_MAX_STALE: Final = 24 * 3600.0
_MAX_DISCOVERY_REDIRECTS: Final = 3
_FAILURES: Final = FailureCodes(
    error=DiscoveryError,
    unreachable=ErrorCode.DISCOVERY_UNREACHABLE,
    tls=ErrorCode.DISCOVERY_TLS,
    http_status=ErrorCode.DISCOVERY_HTTP_STATUS,
    not_json=ErrorCode.DISCOVERY_NOT_JSON,
)


def issuer_from_discovery_url(discovery_url: str, *, allow_insecure_http: bool = False) -> str:
    """Return the issuer identifier that `discovery_url` was derived from."""
    if not is_absolute_http_url(discovery_url):
        raise DiscoveryError(ErrorCode.DISCOVERY_URL_INVALID, "not an absolute http(s) URL")
    # OIDC Discovery 1.0 §2: the issuer has no query or fragment component.
    if "?" in discovery_url or "#" in discovery_url:
        raise DiscoveryError(
            ErrorCode.DISCOVERY_URL_INVALID, "discovery URL has a query or fragment"
        )
    # OIDC Discovery 1.0 §4.1: the document lives at {issuer}/.well-known/openid-configuration.
    if not discovery_url.endswith(WELL_KNOWN_PATH):
        raise DiscoveryError(
            ErrorCode.DISCOVERY_URL_INVALID, f"discovery URL must end with {WELL_KNOWN_PATH}"
        )
    # OIDC Discovery 1.0 §7.1 / §7.2: metadata must come over TLS from the issuer.
    if not is_secure_url(discovery_url, allow_insecure_http=allow_insecure_http):
        raise DiscoveryError(
            ErrorCode.DISCOVERY_INSECURE_ENDPOINT, f"{discovery_url} does not use https"
        )
    return discovery_url.removesuffix(WELL_KNOWN_PATH)


async def fetch_provider_metadata(
    session: aiohttp.ClientSession,
    discovery_url: str,
    *,
    allow_insecure_http: bool = False,
    require_s256: bool = True,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - applied per request as ClientTimeout
    ssl_context: ssl.SSLContext | None = None,
) -> ProviderMetadata:
    """Fetch and validate the provider metadata document."""
    issuer_from_discovery_url(discovery_url, allow_insecure_http=allow_insecure_http)
    response = await send_request(
        session,
        "GET",
        discovery_url,
        failures=_FAILURES,
        timeout=timeout,
        max_redirects=_MAX_DISCOVERY_REDIRECTS,
        ssl_context=ssl_context,
    )
    # OIDC Discovery 1.0 §7.1: a redirect must not downgrade the fetch to plain http.
    if not is_secure_url(response.url, allow_insecure_http=allow_insecure_http) or (
        _is_downgrade(discovery_url, str(response.url)) and not allow_insecure_http
    ):
        raise DiscoveryError(
            ErrorCode.DISCOVERY_INSECURE_ENDPOINT, f"redirected to insecure {response.url}"
        )
    raise_for_status(response, _FAILURES)
    document = decode_json_object(response, _FAILURES)
    return parse_provider_metadata(
        document,
        discovery_url=discovery_url,
        allow_insecure_http=allow_insecure_http,
        require_s256=require_s256,
    )


def parse_provider_metadata(
    document: Mapping[str, object],
    *,
    discovery_url: str,
    allow_insecure_http: bool = False,
    require_s256: bool = True,
) -> ProviderMetadata:
    """Validate a metadata document fetched from `discovery_url`."""
    expected_issuer = issuer_from_discovery_url(
        discovery_url, allow_insecure_http=allow_insecure_http
    )
    issuer = _required_str(document, "issuer")
    # OIDC Discovery 1.0 §4.3: issuer MUST be identical to the URL the document was derived
    # from; §4.1 strips a terminating "/" before appending the well-known path, so an issuer
    # with that trailing slash maps to the same discovery URL and is the only other match.
    if issuer not in (expected_issuer, f"{expected_issuer}/"):
        raise DiscoveryError(
            ErrorCode.DISCOVERY_ISSUER_MISMATCH,
            f"issuer {issuer!r} does not match discovery URL {discovery_url}",
        )

    def endpoint(name: str) -> str | None:
        url = _endpoint(document, name, allow_insecure_http=allow_insecure_http)
        # RFC 6749 §3.1 / §3.2, OIDC Discovery 1.0 §7.1: a document fetched over https must
        # not move the login to plain http, not even to loopback (that exception is for an
        # http discovery URL the admin typed), unless plain http was explicitly allowed.
        if url is not None and _is_downgrade(discovery_url, url) and not allow_insecure_http:
            raise DiscoveryError(
                ErrorCode.DISCOVERY_INSECURE_ENDPOINT,
                f"{name} {url} is plain http in an https discovery document",
            )
        return url

    authorization_endpoint = endpoint("authorization_endpoint")
    token_endpoint = endpoint("token_endpoint")
    jwks_uri = endpoint("jwks_uri")
    # OIDC Discovery 1.0 §3: these are REQUIRED for the authorization code flow.
    if authorization_endpoint is None or token_endpoint is None or jwks_uri is None:
        raise DiscoveryError(
            ErrorCode.DISCOVERY_INVALID,
            "authorization_endpoint, token_endpoint and jwks_uri are required",
        )

    response_types = _string_list(document, "response_types_supported", default=None)
    # OIDC Discovery 1.0 §3: grant_types_supported defaults to authorization_code and implicit.
    grant_types = _string_list(
        document, "grant_types_supported", default=("authorization_code", "implicit")
    )
    # OIDC Core 1.0 §3.1: this client only speaks the authorization code flow.
    if "code" not in response_types or "authorization_code" not in grant_types:
        raise DiscoveryError(
            ErrorCode.DISCOVERY_NO_CODE_FLOW, "provider does not offer the authorization code flow"
        )

    challenge_methods = (
        _string_list(document, "code_challenge_methods_supported", default=())
        if "code_challenge_methods_supported" in document
        else None
    )
    signing_algs = _string_list(document, "id_token_signing_alg_values_supported", default=None)
    # RFC 8725 §3.1: at least one algorithm must be on our allow-list ("none" never is).
    if not set(signing_algs) & {*ASYMMETRIC_ALGS, *HMAC_ALGS}:
        raise DiscoveryError(
            ErrorCode.DISCOVERY_NO_USABLE_ALG,
            f"no supported ID token signing algorithm among {list(signing_algs)}",
        )

    iss_parameter_supported = document.get("authorization_response_iss_parameter_supported", False)
    if not isinstance(iss_parameter_supported, bool):
        raise DiscoveryError(
            ErrorCode.DISCOVERY_INVALID,
            "authorization_response_iss_parameter_supported must be a boolean",
        )

    metadata = ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=authorization_endpoint,
        token_endpoint=token_endpoint,
        jwks_uri=jwks_uri,
        userinfo_endpoint=endpoint("userinfo_endpoint"),
        end_session_endpoint=endpoint("end_session_endpoint"),
        response_types_supported=response_types,
        grant_types_supported=grant_types,
        code_challenge_methods_supported=challenge_methods,
        id_token_signing_alg_values_supported=signing_algs,
        # RFC 8414 §2: token_endpoint_auth_methods_supported defaults to client_secret_basic.
        token_endpoint_auth_methods_supported=_string_list(
            document, "token_endpoint_auth_methods_supported", default=("client_secret_basic",)
        ),
        scopes_supported=_string_list(document, "scopes_supported", default=()),
        claims_supported=_string_list(document, "claims_supported", default=()),
        authorization_response_iss_parameter_supported=iss_parameter_supported,
    )
    if require_s256 and not metadata.pkce_s256_usable:
        raise DiscoveryError(
            ErrorCode.DISCOVERY_NO_S256, "provider does not advertise PKCE method S256"
        )
    return metadata


def _required_str(document: Mapping[str, object], name: str) -> str:
    """Return a required non-empty string member."""
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise DiscoveryError(ErrorCode.DISCOVERY_INVALID, f"{name} must be a non-empty string")
    return value


def _endpoint(
    document: Mapping[str, object], name: str, *, allow_insecure_http: bool
) -> str | None:
    """Return an optional endpoint URL, which must be absolute and use TLS."""
    if name not in document:
        return None
    url = _required_str(document, name)
    if not is_absolute_http_url(url):
        raise DiscoveryError(
            ErrorCode.DISCOVERY_INVALID, f"{name} is not an absolute URL without fragment"
        )
    # RFC 6749 §3.1 / §3.2, OIDC Core 1.0 §16.17: endpoints must be reached over TLS.
    if not is_secure_url(url, allow_insecure_http=allow_insecure_http):
        raise DiscoveryError(ErrorCode.DISCOVERY_INSECURE_ENDPOINT, f"{name} {url} is not https")
    return url


def _is_downgrade(discovery_url: str, url: str) -> bool:
    """Tell whether `url` is plain http while the discovery URL is https."""
    return urlsplit(discovery_url).scheme == "https" and urlsplit(url).scheme != "https"


def _string_list(
    document: Mapping[str, object], name: str, *, default: tuple[str, ...] | None
) -> tuple[str, ...]:
    """Return a JSON array of strings; `default=None` makes the member required."""
    if name not in document:
        if default is None:
            raise DiscoveryError(ErrorCode.DISCOVERY_INVALID, f"{name} is required")
        return default
    value = document[name]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DiscoveryError(ErrorCode.DISCOVERY_INVALID, f"{name} must be an array of strings")
    return tuple(value)


class ProviderMetadataCache:
    """Keep validated provider metadata for `ttl` seconds.

    When a refresh after the TTL fails, the last good metadata keeps being served for up to
    `max_stale` more seconds (default one day) so a short discovery outage does not break
    logins; after that, or if metadata was never fetched, the failure is raised. A failure is
    remembered for `retry_interval` seconds, so unauthenticated requests cannot make us fetch
    discovery again for each of them while the provider is down.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        discovery_url: str,
        *,
        allow_insecure_http: bool = False,
        require_s256: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        ttl: float = DEFAULT_METADATA_TTL,
        max_stale: float = DEFAULT_MAX_STALE,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
        retry_interval: float | None = None,
    ) -> None:
        """Create an empty cache; nothing is fetched until `get` is called."""
        self._session = session
        self._discovery_url = discovery_url
        self._allow_insecure_http = allow_insecure_http
        self._require_s256 = require_s256
        self._timeout = timeout
        self._ttl = ttl
        self._max_stale = max_stale
        self._clock = clock
        self._ssl_context = ssl_context
        self._lock = asyncio.Lock()
        self._metadata: ProviderMetadata | None = None
        self._fetched_at = 0.0
        self._retry_interval = (
            DISCOVERY_RETRY_INTERVAL if retry_interval is None else retry_interval
        )
        self._failure: DiscoveryError | None = None
        self._failed_at = 0.0

    @property
    def discovery_url(self) -> str:
        """Return the discovery URL this cache fetches."""
        return self._discovery_url

    @property
    def cached(self) -> ProviderMetadata | None:
        """Return the last good metadata without fetching, if any."""
        return self._metadata

    async def get(self, *, force_refresh: bool = False) -> ProviderMetadata:
        """Return fresh metadata, fetching when absent, expired or `force_refresh` is set.

        With `force_refresh` a failed fetch is raised, but the cached metadata is kept.
        """
        async with self._lock:
            cached = self._metadata
            age = self._clock() - self._fetched_at
            if cached is not None and not force_refresh and age < self._ttl:
                return cached
            if (
                not force_refresh
                and self._failure is not None
                and self._clock() - self._failed_at < self._retry_interval
            ):
                if cached is not None and age < self._ttl + self._max_stale:
                    return cached
                raise DiscoveryError(self._failure.code, self._failure.detail)
            try:
                metadata = await fetch_provider_metadata(
                    self._session,
                    self._discovery_url,
                    allow_insecure_http=self._allow_insecure_http,
                    require_s256=self._require_s256,
                    timeout=self._timeout,
                    ssl_context=self._ssl_context,
                )
            except DiscoveryError as err:
                self._failure, self._failed_at = err, self._clock()
                if cached is None or force_refresh or age >= self._ttl + self._max_stale:
                    raise
                _LOGGER.warning(
                    "Refreshing OpenID provider metadata from %s failed (%s); "
                    "using metadata fetched %.0f s ago",
                    self._discovery_url,
                    err.code,
                    age,
                )
                return cached
            self._metadata = metadata
            self._fetched_at = self._clock()
            self._failure = None
            return metadata
