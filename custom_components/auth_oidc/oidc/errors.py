"""Errors raised by the OpenID Connect relying-party core."""

from enum import StrEnum, auto
from typing import Final


class ErrorCode(StrEnum):
    """Stable short keys for every failure; the Home Assistant layer translates them.

    Each value is the member name in lower case, e.g. "discovery_unreachable".
    """

    DISCOVERY_URL_INVALID = auto()
    DISCOVERY_UNREACHABLE = auto()
    DISCOVERY_TLS = auto()
    DISCOVERY_HTTP_STATUS = auto()
    DISCOVERY_NOT_JSON = auto()
    DISCOVERY_INVALID = auto()
    DISCOVERY_ISSUER_MISMATCH = auto()
    DISCOVERY_INSECURE_ENDPOINT = auto()
    DISCOVERY_NO_CODE_FLOW = auto()
    DISCOVERY_NO_S256 = auto()
    DISCOVERY_NO_USABLE_ALG = auto()
    DISCOVERY_NO_AUTH_METHOD = auto()
    JWKS_UNREACHABLE = auto()
    JWKS_INVALID = auto()
    JWKS_EMPTY = auto()
    TOKEN_REQUEST_FAILED = auto()
    TOKEN_RESPONSE_INVALID = auto()
    ID_TOKEN_INVALID = auto()
    ID_TOKEN_HEADER = auto()
    ID_TOKEN_ALG = auto()
    ID_TOKEN_KID = auto()
    ID_TOKEN_SIGNATURE = auto()
    ID_TOKEN_ISSUER = auto()
    ID_TOKEN_AUDIENCE = auto()
    ID_TOKEN_AZP = auto()
    ID_TOKEN_EXPIRED = auto()
    ID_TOKEN_IAT = auto()
    ID_TOKEN_NBF = auto()
    ID_TOKEN_NONCE = auto()
    ID_TOKEN_SUB = auto()
    ID_TOKEN_AT_HASH = auto()
    LOGOUT_TOKEN_INVALID = auto()
    USERINFO_FAILED = auto()
    USERINFO_SUB_MISMATCH = auto()
    CALLBACK_STATE = auto()
    CALLBACK_ISS = auto()
    CALLBACK_DUPLICATE_PARAM = auto()
    CALLBACK_MISSING_CODE = auto()
    PROVIDER_ERROR = auto()
    RESPONSE_TOO_LARGE = auto()
    TIMEOUT = auto()


ERROR_CODES: Final[frozenset[str]] = frozenset(code.value for code in ErrorCode)


class OIDCError(Exception):
    """Base error; `code` is a translation key and `detail` a log-safe message without secrets."""

    def __init__(self, code: str, detail: str = "", *, provider_error: str | None = None) -> None:
        """Create the error; `code` must be one of `ERROR_CODES`."""
        if code not in ERROR_CODES:
            raise ValueError(f"unknown OIDC error code {code!r}")
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code: str = str(code)
        self.detail = detail
        self.provider_error = provider_error


class DiscoveryError(OIDCError):
    """The provider metadata could not be fetched or is unacceptable."""


class JWKSError(OIDCError):
    """The provider's JSON Web Key Set could not be fetched or is unusable."""


class TokenError(OIDCError):
    """The token endpoint request failed or returned an unusable response."""


class IDTokenError(OIDCError):
    """The ID token failed validation."""


class UserinfoError(OIDCError):
    """The UserInfo request failed or returned an unusable response."""


class CallbackError(OIDCError):
    """The authorization response on the redirect URI is invalid or reports an error."""
