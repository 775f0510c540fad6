"""OpenID Connect relying party for the authorization code flow with PKCE."""

import base64
import hmac
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Final, cast
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import aiohttp
from multidict import MultiMapping

from ._json import JSONObjectError, loads_object
from .discovery import ProviderMetadataCache
from .errors import (
    CallbackError,
    DiscoveryError,
    ErrorCode,
    IDTokenError,
    TokenError,
    UserinfoError,
)
from .http import (
    DEFAULT_TIMEOUT,
    FailureCodes,
    HTTPResponse,
    decode_json_object,
    raise_for_status,
    send_request,
)
from .id_token import allowed_algorithms, validate_id_token, validate_logout_token
from .jwks import JWKSCache, KeySetSummary
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

_LOGGER = logging.getLogger(__name__)

type CallbackQuery = Mapping[str, str | Sequence[str]]
"""Callback query parameters: a multidict (e.g. `request.query`) or a mapping of lists."""

_TOKEN_FAILURES: Final = FailureCodes(
    error=TokenError,
    unreachable=ErrorCode.TOKEN_REQUEST_FAILED,
    tls=ErrorCode.TOKEN_REQUEST_FAILED,
    http_status=ErrorCode.TOKEN_REQUEST_FAILED,
    not_json=ErrorCode.TOKEN_RESPONSE_INVALID,
)
_USERINFO_FAILURES: Final = FailureCodes(
    error=UserinfoError,
    unreachable=ErrorCode.USERINFO_FAILED,
    tls=ErrorCode.USERINFO_FAILED,
    http_status=ErrorCode.USERINFO_FAILED,
    not_json=ErrorCode.USERINFO_FAILED,
)
_AUTHORIZATION_PARAMS: Final = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }
)
# Claims describing the authentication event: only the signed ID token may set them.
ID_TOKEN_ONLY_CLAIMS: Final = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "nonce",
        "azp",
        "auth_time",
        "acr",
        "amr",
        "at_hash",
        "c_hash",
        "sid",
        "jti",
    }
)
_MAX_LOGGED_VALUE_LENGTH: Final = 200


class OIDCClient:
    """Run OpenID Connect logins against one provider.

    UserInfo is asked at every login, or with `always_fetch_userinfo=False` only when the
    ID token lacks one of the `needed_claims`. A failed UserInfo request fails the login
    (fail closed) instead of continuing with ID token claims only, so group-based
    decisions never run on partial data.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        discovery_url: str,
        settings: ClientSettings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Create the client; nothing is fetched until it is used.

        `ssl_context` replaces the session's certificate verification for every provider
        request, e.g. to trust a private CA.
        """
        self._session = session
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._metadata_cache = ProviderMetadataCache(
            session,
            discovery_url,
            allow_insecure_http=settings.allow_insecure_http,
            require_s256=settings.use_pkce,
            timeout=timeout,
            clock=monotonic,
            ssl_context=ssl_context,
        )
        self._jwks: JWKSCache | None = None

    @property
    def settings(self) -> ClientSettings:
        """Return the client settings."""
        return self._settings

    @property
    def discovery_url(self) -> str:
        """Return the provider's discovery URL."""
        return self._metadata_cache.discovery_url

    @property
    def cached_metadata(self) -> ProviderMetadata | None:
        """Return the last good provider metadata without fetching, if any."""
        return self._metadata_cache.cached

    def key_set_summary(self) -> KeySetSummary | None:
        """Describe the cached signature keys without fetching, if any were fetched."""
        return None if self._jwks is None else self._jwks.summary()

    async def metadata(self, *, force_refresh: bool = False) -> ProviderMetadata:
        """Return provider metadata that is usable with these settings."""
        metadata = await self._metadata_cache.get(force_refresh=force_refresh)
        allowed_algorithms(metadata, self._settings)
        self._token_auth_method(metadata)
        return metadata

    async def warm_up(self) -> None:
        """Fetch discovery and the signing keys now, so the first login waits for neither."""
        metadata = await self.metadata()
        await self._jwks_cache(metadata).key_set()

    async def start_authorization(
        self, redirect_uri: str, *, extra_params: Mapping[str, str] | None = None
    ) -> AuthorizationRequest:
        """Create an authorization request; send the browser to its `url` and keep the rest."""
        extra = dict(extra_params or {})
        if overridden := sorted(_AUTHORIZATION_PARAMS & extra.keys()):
            raise ValueError(f"extra_params must not set {overridden}")
        metadata = await self.metadata()
        state = generate_state()
        nonce = generate_nonce()
        params = {
            **extra,
            # OIDC Core 1.0 §3.1.2.1: the authorization code flow with the openid scope.
            "response_type": "code",
            "client_id": self._settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": self._settings.scope,
            "state": state,
            "nonce": nonce,
        }
        code_verifier = None
        if self._settings.use_pkce:
            code_verifier = generate_code_verifier()
            # RFC 7636 §4.3 / RFC 9700 §2.1.1: always S256, never plain.
            params["code_challenge"] = code_challenge_s256(code_verifier)
            params["code_challenge_method"] = "S256"
        return AuthorizationRequest(
            url=_with_query(metadata.authorization_endpoint, params),
            state=state,
            nonce=nonce,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
        )

    @staticmethod
    def parse_callback(
        query: CallbackQuery, *, expected_state: str, metadata: ProviderMetadata
    ) -> str:
        """Validate the authorization response on the redirect URI and return the code.

        The state is checked before anything else, so a forged error response is reported
        as a state mismatch rather than as a provider error.
        """
        params = _single_valued(query)
        state = params.get("state")
        # RFC 6749 §10.12 / RFC 9700 §4.7.1: state must match this browser's request.
        if state is None or not hmac.compare_digest(state.encode(), expected_state.encode()):
            raise CallbackError(ErrorCode.CALLBACK_STATE, "state does not match the request")
        issuer = params.get("iss")
        # RFC 9207 §2.4: iss is required when advertised and must always equal the issuer.
        if issuer is None and metadata.authorization_response_iss_parameter_supported:
            raise CallbackError(ErrorCode.CALLBACK_ISS, "iss parameter is missing")
        if issuer is not None and issuer != metadata.issuer:
            raise CallbackError(ErrorCode.CALLBACK_ISS, "iss does not match the issuer")
        if (error := params.get("error")) is not None:
            # RFC 6749 §4.1.2.1: the provider refused the request.
            description = _log_safe(params.get("error_description", ""))
            raise CallbackError(
                ErrorCode.PROVIDER_ERROR,
                f"provider returned {_log_safe(error)}: {description}",
                provider_error=_log_safe(error),
            )
        code = params.get("code")
        # RFC 6749 §4.1.2: a successful response carries the code.
        if not code:
            raise CallbackError(ErrorCode.CALLBACK_MISSING_CODE, "code parameter is missing")
        return code

    async def exchange_code(self, code: str, request: AuthorizationRequest) -> TokenSet:
        """Redeem the authorization code at the token endpoint."""
        form = {
            # RFC 6749 §4.1.3: the redirect_uri must repeat the authorization request's.
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
        }
        if request.code_verifier is not None:
            # RFC 7636 §4.5: prove possession of the verifier behind the code challenge.
            form["code_verifier"] = request.code_verifier
        document = await self._token_request(form, "Redeeming authorization code")
        return _parse_token_response(document)

    async def refresh(self, refresh_token: str, *, subject: str) -> RefreshResult:
        """Use a refresh token and return the user's current claims (RFC 6749 §6).

        The claims come from the new ID token, completed by UserInfo as at login; they are
        None when the provider sent no ID token and has no UserInfo endpoint. Errors keep the
        provider's RFC 6749 §5.2 code: `invalid_grant` means the grant is no longer valid.
        """
        metadata = await self.metadata()
        # RFC 6749 §6: no scope parameter, so the scope of the original grant is kept.
        document = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            "Refreshing tokens",
        )
        access_token = _bearer_access_token(document)
        raw_id_token = document.get("id_token")
        claims: dict[str, object] = {}
        decidable = False
        if isinstance(raw_id_token, str) and raw_id_token:
            id_token_claims = await validate_id_token(
                raw_id_token,
                jwks=self._jwks_cache(metadata),
                metadata=metadata,
                settings=self._settings,
                # OIDC Core 1.0 §12.2: a refreshed ID token need not carry the nonce; it
                # comes straight from the token endpoint over TLS, as at the code exchange.
                expected_nonce=None,
                now=self._clock(),
                access_token=access_token,
            )
            # OIDC Core 1.0 §12.2: iss (checked above) and sub must be those of the login.
            if id_token_claims.get("sub") != subject:
                raise IDTokenError(
                    ErrorCode.ID_TOKEN_SUB, "refreshed ID token names another subject"
                )
            claims.update(id_token_claims)
            decidable = True
        elif raw_id_token is not None:
            raise TokenError(ErrorCode.TOKEN_RESPONSE_INVALID, "id_token is not a string")
        if self._needs_userinfo(claims) and metadata.userinfo_endpoint is not None:
            userinfo = await self.fetch_userinfo(access_token)
            # OIDC Core 1.0 §5.3.2: UserInfo sub must exactly match the login's sub.
            if userinfo.get("sub") != subject:
                raise UserinfoError(
                    ErrorCode.USERINFO_SUB_MISMATCH, "UserInfo sub differs from the login's sub"
                )
            claims.update(
                (name, value)
                for name, value in userinfo.items()
                if name not in ID_TOKEN_ONLY_CLAIMS or name == "sub"
            )
            decidable = True
        new_refresh_token = document.get("refresh_token")
        return RefreshResult(
            subject=subject,
            claims=MappingProxyType(claims) if decidable else None,
            # RFC 6749 §6: a new refresh token replaces the old one; without one, keep it.
            refresh_token=new_refresh_token
            if isinstance(new_refresh_token, str) and new_refresh_token
            else None,
        )

    async def _token_request(self, form: dict[str, str], purpose: str) -> dict[str, object]:
        """POST a grant to the token endpoint with the client's authentication."""
        metadata = await self.metadata()
        method = self._token_auth_method(metadata)
        client_id = self._settings.client_id
        secret = self._settings.client_secret
        headers: dict[str, str] = {}
        if method == "none" or secret is None:
            form["client_id"] = client_id
        elif method == "client_secret_basic":
            headers["Authorization"] = _basic_authorization(client_id, secret)
        else:
            form["client_id"] = client_id
            form["client_secret"] = secret
        _LOGGER.debug("%s at %s (%s)", purpose, metadata.token_endpoint, method)
        # RFC 9700 §4.12: the grant and credentials must never follow a (307) redirect.
        response = await send_request(
            self._session,
            "POST",
            metadata.token_endpoint,
            failures=_TOKEN_FAILURES,
            timeout=self._timeout,
            headers=headers,
            form=form,
            ssl_context=self._ssl_context,
        )
        if not response.ok:
            raise _token_error(response)
        return decode_json_object(response, _TOKEN_FAILURES)

    async def fetch_userinfo(self, access_token: str) -> dict[str, object]:
        """Return the UserInfo claims for the access token (OIDC Core 1.0 §5.3)."""
        metadata = await self.metadata()
        if metadata.userinfo_endpoint is None:
            raise UserinfoError(ErrorCode.USERINFO_FAILED, "provider has no userinfo endpoint")
        # RFC 6750 §2.1: present the access token in the Authorization header.
        response = await send_request(
            self._session,
            "GET",
            metadata.userinfo_endpoint,
            failures=_USERINFO_FAILURES,
            timeout=self._timeout,
            headers={"Authorization": f"Bearer {access_token}"},
            ssl_context=self._ssl_context,
        )
        raise_for_status(response, _USERINFO_FAILURES)
        if response.content_type == "application/jwt":
            raise UserinfoError(ErrorCode.USERINFO_FAILED, "signed userinfo not supported")
        return decode_json_object(response, _USERINFO_FAILURES)

    async def verify_logout_token(self, raw: str) -> LogoutToken:
        """Verify a back-channel logout token with this provider's keys and settings."""
        metadata = await self.metadata()
        return await validate_logout_token(
            raw,
            jwks=self._jwks_cache(metadata),
            metadata=metadata,
            settings=self._settings,
            now=self._clock(),
        )

    async def complete_login(
        self, query: CallbackQuery, request: AuthorizationRequest
    ) -> LoginResult:
        """Turn the callback into an authenticated user: code, tokens, ID token, UserInfo."""
        metadata = await self.metadata()
        code = self.parse_callback(query, expected_state=request.state, metadata=metadata)
        tokens = await self.exchange_code(code, request)
        id_token_claims = await validate_id_token(
            tokens.id_token,
            jwks=self._jwks_cache(metadata),
            metadata=metadata,
            settings=self._settings,
            expected_nonce=request.nonce,
            now=self._clock(),
            access_token=tokens.access_token,
        )
        subject = cast(str, id_token_claims["sub"])  # validated by validate_id_token
        claims = dict(id_token_claims)
        if self._needs_userinfo(claims) and metadata.userinfo_endpoint is not None:
            userinfo = await self.fetch_userinfo(tokens.access_token)
            # OIDC Core 1.0 §5.3.2: UserInfo sub must exactly match the ID token sub.
            if userinfo.get("sub") != subject:
                raise UserinfoError(
                    ErrorCode.USERINFO_SUB_MISMATCH, "UserInfo sub differs from the ID token sub"
                )
            claims.update(
                (name, value)
                for name, value in userinfo.items()
                if name not in ID_TOKEN_ONLY_CLAIMS
            )
        return LoginResult(
            issuer=metadata.issuer,
            subject=subject,
            claims=MappingProxyType(claims),
            id_token_claims=MappingProxyType(id_token_claims),
            id_token=tokens.id_token,
            refresh_token=tokens.refresh_token,
        )

    def _needs_userinfo(self, id_token_claims: Mapping[str, object]) -> bool:
        """Tell whether UserInfo must be asked: always, or for a claim the ID token lacks."""
        settings = self._settings
        if not settings.userinfo:
            return False
        # OIDC Core 1.0 §5.4: scope claims may come in the ID token; UserInfo only fills gaps.
        missing = settings.needed_claims - id_token_claims.keys()
        return settings.always_fetch_userinfo or bool(missing)

    def _token_auth_method(self, metadata: ProviderMetadata) -> str:
        """Return the configured client authentication method or pick one from discovery."""
        configured = self._settings.token_endpoint_auth_method
        if configured is not None:
            return configured
        if not self._settings.client_secret:
            return "none"
        for method in ("client_secret_basic", "client_secret_post"):
            if method in metadata.token_endpoint_auth_methods_supported:
                return method
        raise DiscoveryError(
            ErrorCode.DISCOVERY_NO_AUTH_METHOD,
            "provider supports neither client_secret_basic nor client_secret_post, only "
            f"{list(metadata.token_endpoint_auth_methods_supported)}",
        )

    def _jwks_cache(self, metadata: ProviderMetadata) -> JWKSCache:
        """Return the key cache for the metadata's jwks_uri, creating it on first use."""
        if self._jwks is None or self._jwks.jwks_uri != metadata.jwks_uri:
            self._jwks = JWKSCache(
                self._session,
                metadata.jwks_uri,
                clock=self._monotonic,
                timeout=self._timeout,
                allow_insecure_http=self._settings.allow_insecure_http,
                ssl_context=self._ssl_context,
            )
        return self._jwks


def _with_query(endpoint: str, params: Mapping[str, str]) -> str:
    """Add `params` to the endpoint URL, keeping its other query parameters."""
    parts = urlsplit(endpoint)
    # RFC 6749 §3.1: keep the endpoint's query, but never send a parameter twice.
    kept = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name not in params
    ]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


def _single_valued(query: CallbackQuery) -> dict[str, str]:
    """Flatten the callback query, refusing any parameter given more than once."""
    if isinstance(query, MultiMapping):
        values = {name: list(query.getall(name)) for name in query}
    else:
        values = {
            name: [value] if isinstance(value, str) else list(value)
            for name, value in query.items()
        }
    # RFC 6749 §3.1: request and response parameters MUST NOT be included more than once.
    if repeated := sorted(_log_safe(name) for name, found in values.items() if len(found) > 1):
        raise CallbackError(ErrorCode.CALLBACK_DUPLICATE_PARAM, f"repeated parameters {repeated}")
    return {name: found[0] for name, found in values.items() if found}


def _basic_authorization(client_id: str, client_secret: str) -> str:
    """Return the HTTP Basic credentials for the client."""
    # RFC 6749 §2.3.1: form-urlencode client_id and client_secret before Base64.
    credentials = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return f"Basic {base64.b64encode(credentials.encode()).decode('ascii')}"


def _token_error(response: HTTPResponse) -> TokenError:
    """Describe a non-2xx token response, keeping the RFC 6749 §5.2 error code."""
    try:
        error = loads_object(response.body).get("error")
    except JSONObjectError:
        error = None
    provider_error = _log_safe(error) if isinstance(error, str) else None
    return TokenError(
        ErrorCode.TOKEN_REQUEST_FAILED,
        f"HTTP {response.status} from {response.url}: {provider_error}",
        provider_error=provider_error,
    )


def _bearer_access_token(document: Mapping[str, object]) -> str:
    """Return the access token of a successful token response (RFC 6749 §5.1)."""
    access_token = document.get("access_token")
    token_type = document.get("token_type")
    if not isinstance(access_token, str) or not access_token:
        raise TokenError(ErrorCode.TOKEN_RESPONSE_INVALID, "access_token is missing")
    # OIDC Core 1.0 §3.1.3.3: token_type MUST be Bearer (compared case-insensitively).
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise TokenError(ErrorCode.TOKEN_RESPONSE_INVALID, "token_type is not Bearer")
    return access_token


def _parse_token_response(document: Mapping[str, object]) -> TokenSet:
    """Validate a successful token response (RFC 6749 §5.1, OIDC Core 1.0 §3.1.3.3)."""
    access_token = _bearer_access_token(document)
    id_token = document.get("id_token")
    # OIDC Core 1.0 §3.1.3.3: the response must carry an ID token.
    if not isinstance(id_token, str) or not id_token:
        raise TokenError(ErrorCode.TOKEN_RESPONSE_INVALID, "id_token is missing")
    expires_in = document.get("expires_in")
    refresh_token = document.get("refresh_token")
    scope = document.get("scope")
    return TokenSet(
        access_token=access_token,
        token_type=str(document["token_type"]),
        id_token=id_token,
        expires_in=expires_in if type(expires_in) is int else None,
        refresh_token=refresh_token if isinstance(refresh_token, str) else None,
        scope=scope if isinstance(scope, str) else None,
    )


def _log_safe(value: str) -> str:
    """Return `value` shortened and reduced to printable ASCII for log messages."""
    shortened = value[:_MAX_LOGGED_VALUE_LENGTH]
    return "".join(char if char.isascii() and char.isprintable() else "?" for char in shortened)
