"""Immutable value objects exchanged between the OpenID Connect core and its callers."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

OPENID_SCOPE: Final = "openid"
TOKEN_AUTH_METHODS: Final = ("none", "client_secret_basic", "client_secret_post")


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """Validated OpenID Provider metadata (OpenID Connect Discovery 1.0 §3)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    response_types_supported: tuple[str, ...]
    grant_types_supported: tuple[str, ...]
    # None when the document omits the member.
    code_challenge_methods_supported: tuple[str, ...] | None
    id_token_signing_alg_values_supported: tuple[str, ...]
    token_endpoint_auth_methods_supported: tuple[str, ...]
    scopes_supported: tuple[str, ...]
    claims_supported: tuple[str, ...]
    authorization_response_iss_parameter_supported: bool

    @property
    def pkce_s256_usable(self) -> bool:
        """Tell whether PKCE with S256 may be sent: listed, or no list at all."""
        # RFC 7636 §4.2 / RFC 9700 §2.1.1: only S256; a list without it means no usable PKCE.
        # Some providers (Microsoft Entra ID) support S256 but omit the member: S256 is sent
        # anyway, as RFC 6749 §3.1 obliges servers to ignore parameters they do not know.
        methods = self.code_challenge_methods_supported
        return methods is None or "S256" in methods


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Relying-party registration and behaviour settings."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = (OPENID_SCOPE,)
    # None: "none" without a secret, else client_secret_basic when advertised, else _post.
    token_endpoint_auth_method: str | None = None
    # None: accept any advertised asymmetric algorithm.
    id_token_signing_alg: str | None = None
    use_pkce: bool = True
    allow_insecure_http: bool = False
    # False: never ask the UserInfo endpoint.
    userinfo: bool = True
    # False: ask it only when the ID token lacks one of `needed_claims`.
    always_fetch_userinfo: bool = True
    needed_claims: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        """Refuse contradictory settings early."""
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if self.token_endpoint_auth_method not in (None, *TOKEN_AUTH_METHODS):
            raise ValueError(
                f"unsupported token_endpoint_auth_method {self.token_endpoint_auth_method!r}"
            )
        if self.token_endpoint_auth_method not in (None, "none") and not self.client_secret:
            raise ValueError(f"{self.token_endpoint_auth_method} requires a client secret")
        # RFC 6749 §3.3: scope tokens are space-delimited and must not contain spaces.
        if any(not scope or any(char.isspace() for char in scope) for scope in self.scopes):
            raise ValueError("each scope must be a non-empty string without whitespace")
        # RFC 8725 §3.1: an unsecured JWT must never be accepted.
        if self.id_token_signing_alg is not None and self.id_token_signing_alg.lower() == "none":
            raise ValueError('id_token_signing_alg "none" is not allowed')

    @property
    def scope(self) -> str:
        """Return the space-separated scope value, always starting with `openid`."""
        # OIDC Core 1.0 §3.1.2.1: scope MUST contain openid.
        ordered = dict.fromkeys((OPENID_SCOPE, *self.scopes))
        return " ".join(ordered)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A started authorization; the caller keeps it until the callback arrives."""

    url: str = field(repr=False)
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str | None = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A successful token endpoint response (RFC 6749 §5.1, OIDC Core 1.0 §3.1.3.3)."""

    access_token: str = field(repr=False)
    token_type: str
    id_token: str = field(repr=False)
    expires_in: int | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class LogoutToken:
    """A verified back-channel logout request (OpenID Connect Back-Channel Logout 1.0 §2.4)."""

    subject: str | None
    session_id: str | None
    jti: str
    issued_at: float


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The authenticated end-user: validated ID token claims merged with UserInfo claims."""

    issuer: str
    subject: str
    claims: Mapping[str, object]
    id_token_claims: Mapping[str, object]
    # The raw ID token, kept only as a later logout's `id_token_hint`; never logged.
    id_token: str = field(repr=False)
    # The provider's refresh token, if it issued one; never logged.
    refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """A successful refresh grant (RFC 6749 §6) and the user's current claims."""

    subject: str
    # None: no new ID token and no UserInfo endpoint, so nothing about the user is known.
    claims: Mapping[str, object] | None
    # The rotated refresh token; None means the old one stays valid (RFC 6749 §6).
    refresh_token: str | None = field(repr=False)
