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

# Failures that mean the provider could not be reached or gave no usable answer, not that it
# refused: the user may try again later, and Home Assistant's own login still works.
UNAVAILABLE_CODES: Final = frozenset(
    {
        ErrorCode.DISCOVERY_UNREACHABLE,
        ErrorCode.DISCOVERY_TLS,
        ErrorCode.DISCOVERY_HTTP_STATUS,
        ErrorCode.DISCOVERY_NOT_JSON,
        ErrorCode.JWKS_UNREACHABLE,
        ErrorCode.TOKEN_REQUEST_FAILED,
        ErrorCode.USERINFO_FAILED,
        ErrorCode.TIMEOUT,
        ErrorCode.RESPONSE_TOO_LARGE,
    }
)
# RFC 6749 §5.2: token-endpoint errors that are a real answer about the request, not an outage.
TOKEN_REFUSALS: Final = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)


def is_provider_unavailable(code: ErrorCode, provider_error: str | None = None) -> bool:
    """Tell whether a failure means the provider is unavailable (not that it refused)."""
    return code in UNAVAILABLE_CODES and provider_error not in TOKEN_REFUSALS


class OIDCError(Exception):
    """Base error; `code` is a translation key and `detail` a log-safe message without secrets."""

    def __init__(
        self, code: ErrorCode, detail: str = "", *, provider_error: str | None = None
    ) -> None:
        """Create the error; `code` must be one of `ErrorCode`."""
        if code not in ERROR_CODES:
            raise ValueError(f"unknown OIDC error code {code!r}")
        self.code = ErrorCode(code)
        super().__init__(f"{self.code}: {detail}" if detail else str(self.code))
        self.detail = detail
        self.provider_error = provider_error

    @property
    def provider_unavailable(self) -> bool:
        """Tell whether the provider is unavailable (not that it refused); see UNAVAILABLE_CODES."""
        return is_provider_unavailable(self.code, self.provider_error)


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
