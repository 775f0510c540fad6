"""Check a provider once before it is configured: discovery, PKCE, signing algorithms, keys."""

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from .discovery import fetch_provider_metadata, issuer_from_discovery_url
from .errors import DiscoveryError, ErrorCode
from .http import DEFAULT_TIMEOUT
from .id_token import ASYMMETRIC_ALGS, usable_algorithms
from .jwks import JWKSCache
from .models import ProviderMetadata
from .urls import is_secure_url


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one successful check of a provider found."""

    discovery_url: str
    issuer: str
    metadata: ProviderMetadata
    # The asymmetric ID token signing algorithms that both sides accept.
    algorithms: tuple[str, ...]
    # PKCE with S256 can be used (RFC 7636 §4.2).
    pkce: bool
    # A provider address is plain http off loopback, or an https document names an http one.
    needs_insecure_http: bool


async def probe_provider(
    session: aiohttp.ClientSession,
    discovery_url: str,
    *,
    allow_insecure_http: bool = False,
    accept_without_pkce: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - applied per request as ClientTimeout
) -> ProbeResult:
    """Fetch and validate discovery and the key set once; raise OIDCError on any problem."""
    issuer = issuer_from_discovery_url(discovery_url, allow_insecure_http=allow_insecure_http)
    metadata = await fetch_provider_metadata(
        session,
        discovery_url,
        allow_insecure_http=allow_insecure_http,
        require_s256=False,
        timeout=timeout,
        ssl_context=ssl_context,
    )
    # The same rule as a running client: S256 unless the provider lists methods without it.
    pkce = metadata.pkce_s256_usable
    # RFC 9700 §2.1.1: without S256 only an explicit choice continues without PKCE.
    if not pkce and not accept_without_pkce:
        raise DiscoveryError(ErrorCode.DISCOVERY_NO_S256, "S256 is not advertised")
    algorithms = usable_algorithms(metadata, ASYMMETRIC_ALGS)
    await JWKSCache(
        session,
        metadata.jwks_uri,
        timeout=timeout,
        allow_insecure_http=allow_insecure_http,
        ssl_context=ssl_context,
    ).key_set()
    return ProbeResult(
        discovery_url=discovery_url,
        issuer=issuer,
        metadata=metadata,
        algorithms=algorithms,
        pkce=pkce,
        needs_insecure_http=uses_insecure_http(discovery_url, metadata),
    )


def uses_insecure_http(discovery_url: str, metadata: ProviderMetadata) -> bool:
    """Tell whether a provider URL is plain http off loopback, or http in an https document."""
    urls = (
        discovery_url,
        metadata.authorization_endpoint,
        metadata.token_endpoint,
        metadata.jwks_uri,
        metadata.userinfo_endpoint or discovery_url,
    )
    downgrade = urlsplit(discovery_url).scheme == "https" and any(
        urlsplit(url).scheme == "http" for url in urls
    )
    return downgrade or not all(is_secure_url(url, allow_insecure_http=False) for url in urls)
