"""OpenID Connect relying-party core: discovery, PKCE, tokens and ID token validation.

Pure library code on top of aiohttp and joserfc; it never imports Home Assistant.
"""

from .client import ID_TOKEN_ONLY_CLAIMS, CallbackQuery, OIDCClient
from .discovery import (
    WELL_KNOWN_PATH,
    ProviderMetadataCache,
    fetch_provider_metadata,
    issuer_from_discovery_url,
    parse_provider_metadata,
)
from .errors import (
    ERROR_CODES,
    CallbackError,
    DiscoveryError,
    ErrorCode,
    IDTokenError,
    JWKSError,
    OIDCError,
    TokenError,
    UserinfoError,
    is_provider_unavailable,
)
from .id_token import (
    ASYMMETRIC_ALGS,
    HMAC_ALGS,
    allowed_algorithms,
    validate_id_token,
    validate_logout_token,
)
from .jwks import JWKSCache, KeySetSummary, parse_jwks
from .models import (
    AuthorizationRequest,
    ClientSettings,
    LoginResult,
    LogoutToken,
    ProviderMetadata,
    RefreshResult,
    TokenSet,
)
from .pkce import code_challenge_s256, generate_code_verifier, generate_nonce, generate_state
from .probe import ProbeResult, probe_provider

__all__ = [
    "ASYMMETRIC_ALGS",
    "ERROR_CODES",
    "HMAC_ALGS",
    "ID_TOKEN_ONLY_CLAIMS",
    "WELL_KNOWN_PATH",
    "AuthorizationRequest",
    "CallbackError",
    "CallbackQuery",
    "ClientSettings",
    "DiscoveryError",
    "ErrorCode",
    "IDTokenError",
    "JWKSCache",
    "JWKSError",
    "KeySetSummary",
    "LoginResult",
    "LogoutToken",
    "OIDCClient",
    "OIDCError",
    "ProbeResult",
    "ProviderMetadata",
    "ProviderMetadataCache",
    "RefreshResult",
    "TokenError",
    "TokenSet",
    "UserinfoError",
    "allowed_algorithms",
    "code_challenge_s256",
    "fetch_provider_metadata",
    "generate_code_verifier",
    "generate_nonce",
    "generate_state",
    "is_provider_unavailable",
    "issuer_from_discovery_url",
    "parse_jwks",
    "parse_provider_metadata",
    "probe_provider",
    "validate_id_token",
    "validate_logout_token",
]
