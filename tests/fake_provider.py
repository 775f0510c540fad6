"""An in-process, deliberately misbehaving-on-demand OpenID Provider for tests.

`FakeProvider` serves Pocket-ID-like endpoints on 127.0.0.1 and issues real, signed tokens.
Every attack scenario is a plain attribute ("knob") that a test sets before running the flow:

    async with FakeProvider.running(alg="ES256") as provider:
        provider.id_token_claims_override = {"aud": ["ha-client", "evil"]}
        request = await client.start_authorization(REDIRECT_URI)
        query = await provider.authorize(request.url)
        await client.complete_login(query, request)  # raises id_token_audience

Endpoint names used by the per-endpoint knobs: "discovery", "authorize", "token", "userinfo",
"jwks".

Knobs (all reset per instance):

Identity and client registration
    user                      claims of the logged-in user; "sub" is the subject.
    client_id, client_secret  the registered client.
    token_endpoint_auth_methods  advertised and accepted client authentication methods.
    redirect_uris             if set, /authorize refuses other redirect URIs.
    clock                     time source for iat/exp (default time.time).

Discovery
    discovery_override        dict merged into the metadata document.
    discovery_remove          set of member names removed from the document.
    discovery_raw             bytes served verbatim instead of the document.

Authorization endpoint and callback
    require_pkce              refuse authorization requests without code_challenge.
    accepted_pkce_methods     code_challenge_method values accepted (default S256 only).
    include_iss_in_callback   add the RFC 9207 iss parameter (default True).
    callback_error            redirect with error=<value> instead of a code.
    callback_params_override  dict replacing callback parameters; a None value removes one.
    callback_extra_params     list of (name, value) pairs appended (e.g. a second "code").

Token endpoint
    token_response_override   dict merged into the JSON response, or bytes served verbatim.
    token_response_remove     set of member names removed from the JSON response.
    id_token_raw              str served as the id_token instead of a minted one.
    access_token_lifetime     expires_in value.
    issue_refresh_tokens      send a refresh_token with every code exchange, without
                              offline_access, as Pocket ID does (default True).
    rotate_refresh_tokens     a used refresh token is spent and a new one issued (default True).
    refresh_id_token          the refresh grant returns a new ID token (default True); without
                              one the client must ask UserInfo.
    disabled_subjects         subjects whose refresh tokens are refused with invalid_grant (a
                              user disabled or deleted at the provider).
    down                      every endpoint answers 503 (the provider is down).

ID token
    alg                       signing algorithm; chooses the key type (RSA 2048, EC, Ed25519,
                              or the client secret for HS*).
    id_token_claims_override  dict merged into the claims (after the defaults and profile).
    id_token_claims_remove    set of claim names removed.
    id_token_header_override  dict merged into the JOSE header (e.g. {"alg": "none"}).
    id_token_header_remove    set of header names removed (e.g. {"kid"}).
    id_token_include_profile  copy the user's profile claims into the ID token (default True).
    include_at_hash           add at_hash (default True).
    at_hash_digest            hashlib name of the at_hash digest; None (default) follows the
                              alg (SHA-512 for EdDSA); "sha256" with EdDSA is Pocket ID's.
    sign_with                 None (current key) or one of SIGN_MODES:
                              "other-key": an unpublished key, header kid of the real key;
                              "enc-key": a key published with use=enc, its own kid;
                              "hs256-public-key": HS256 keyed with the public key's PEM;
                              "hs256-client-secret": HS256 keyed with the client secret;
                              "none": alg none with an empty signature;
                              "corrupt-signature": the real signature with one bit flipped.

JWKS
    jwks_override             dict or bytes served verbatim.
    jwk_parameters_override   dict merged into the published signing JWK (e.g. use=enc).
    jwk_include_private       publish the private key members as well.
    extra_jwks                list of additional JWK dicts to publish.
    rotate_keys(keep_old=False)  switch to a fresh signing key with a new kid.

UserInfo
    userinfo_override         dict merged into the user's claims.
    userinfo_remove           set of claim names removed.
    userinfo_raw              bytes served verbatim, with userinfo_content_type.
    userinfo_content_type     content type of userinfo_raw (default application/json).

Transport, per endpoint name
    response_delay            {endpoint: seconds} to sleep before answering.
    status                    {endpoint: HTTP status} to answer with; a 3xx redirects to
                              redirects[endpoint] (default the issuer root).
    redirects                 {endpoint: Location URL} used with a 3xx status.
    oversize                  {endpoint: byte count} of a JSON body to serve instead.
    oversize_chunked          stream oversize bodies without Content-Length.

Observation
    requests                  Counter of requests per endpoint name.
    authorization_requests    query parameters of each /authorize request.
    token_requests            form fields, client auth method and auth header of each
                              token request.
    token_responses           JSON bodies of successful token responses.
    refreshed_subjects        subject of each successful refresh grant, in order.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Self
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import aiohttp
from aiohttp import web
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from multidict import MultiDict

PATHS: Final = {
    "discovery": "/.well-known/openid-configuration",
    "authorize": "/authorize",
    "token": "/api/oidc/token",
    "userinfo": "/api/oidc/userinfo",
    "jwks": "/.well-known/jwks.json",
    "end_session": "/api/oidc/end-session",
}
SIGN_MODES: Final = (
    "other-key",
    "enc-key",
    "hs256-public-key",
    "hs256-client-secret",
    "none",
    "corrupt-signature",
)
DEFAULT_CLIENT_ID: Final = "ha-client"
DEFAULT_CLIENT_SECRET: Final = "fake-client-secret-0123456789-abcdefghij"
DEFAULT_USER: Final = {
    "sub": "7f3c2b1a-user-0001",
    "name": "Ada Lovelace",
    "preferred_username": "ada",
    "email": "ada@example.test",
    "email_verified": True,
    "groups": ["admins", "ha-users"],
}

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Generating RSA keys is slow; providers draw from one growing pool per key kind.
_KEY_POOL: dict[str, list[Key]] = {}


def _key_kind(alg: str) -> str:
    """Return the pool name of the key type `alg` signs with."""
    if alg.startswith(("RS", "PS")):
        return "RSA"
    if alg in ("EdDSA", "Ed25519"):
        return "Ed25519"
    return {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]


def _pooled_key(kind: str, index: int) -> Key:
    """Return the index-th key of a kind, generating keys as needed."""
    pool = _KEY_POOL.setdefault(kind, [])
    while len(pool) <= index:
        key: Key
        if kind == "RSA":
            key = RSAKey.generate_key(2048, auto_kid=True)
        elif kind == "Ed25519":
            key = OKPKey.generate_key("Ed25519", auto_kid=True)
        else:
            key = ECKey.generate_key(kind, auto_kid=True)
        pool.append(key)
    return pool[index]


def half_hash(value: str, alg: str, digest_name: str | None = None) -> str:
    """Return the at_hash/c_hash value for `value` signed with `alg` (Ed25519 curve)."""
    name = digest_name or ("sha512" if alg in ("EdDSA", "Ed25519") else f"sha{alg[-3:]}")
    digest = hashlib.new(name, value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def b64url(data: bytes) -> str:
    """Return unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_s256(verifier: str) -> str:
    """Return the S256 challenge of a verifier (independent of the code under test)."""
    return b64url(hashlib.sha256(verifier.encode()).digest())


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """What the provider remembers about an authorization code."""

    client_id: str
    redirect_uri: str
    nonce: str | None
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None


class FakeProvider:
    """An OpenID Provider with scenario knobs; see the module docstring."""

    def __init__(
        self,
        *,
        alg: str = "RS256",
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
    ) -> None:
        self.alg = alg
        self.client_id = client_id
        self.client_secret = client_secret
        self.issuer = ""
        self.clock: Callable[[], float] = time.time
        self.user: dict[str, Any] = dict(DEFAULT_USER)
        self.token_endpoint_auth_methods = ["client_secret_basic", "client_secret_post", "none"]
        self.redirect_uris: list[str] | None = None

        self.discovery_override: dict[str, Any] = {}
        self.discovery_remove: set[str] = set()
        self.discovery_raw: bytes | None = None

        self.require_pkce = False
        self.accepted_pkce_methods = {"S256"}
        self.include_iss_in_callback = True
        self.callback_error: str | None = None
        self.callback_params_override: dict[str, str | None] = {}
        self.callback_extra_params: list[tuple[str, str]] = []

        self.token_response_override: dict[str, Any] | bytes | None = None
        self.token_response_remove: set[str] = set()
        self.id_token_raw: str | None = None
        self.access_token_lifetime = 3600
        self.issue_refresh_tokens = True
        self.rotate_refresh_tokens = True
        self.refresh_id_token = True
        self.disabled_subjects: set[str] = set()
        self.down = False

        self.id_token_claims_override: dict[str, Any] = {}
        self.id_token_claims_remove: set[str] = set()
        self.id_token_header_override: dict[str, Any] = {}
        self.id_token_header_remove: set[str] = set()
        self.id_token_include_profile = True
        self.include_at_hash = True
        self.at_hash_digest: str | None = None
        self.sign_with: str | None = None

        self.jwks_override: dict[str, Any] | bytes | None = None
        self.jwk_parameters_override: dict[str, Any] = {}
        self.jwk_include_private = False
        self.extra_jwks: list[dict[str, Any]] = []

        self.userinfo_override: dict[str, Any] = {}
        self.userinfo_remove: set[str] = set()
        self.userinfo_raw: bytes | None = None
        self.userinfo_content_type = "application/json"

        self.response_delay: dict[str, float] = {}
        self.status: dict[str, int] = {}
        self.redirects: dict[str, str] = {}
        self.oversize: dict[str, int] = {}
        self.oversize_chunked = False

        self.requests: Counter[str] = Counter()
        self.authorization_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, Any]] = []
        self.token_responses: list[dict[str, Any]] = []
        self.refreshed_subjects: list[str] = []

        self._codes: dict[str, IssuedCode] = {}
        # Live refresh tokens and the subject and scope of their grant.
        self.refresh_tokens: dict[str, tuple[str, str]] = {}
        self._access_tokens: set[str] = set()
        self._key_index = 0
        self._published_old_keys: list[Key] = []
        self._delayed_handlers: set[asyncio.Task[Any]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def running(
        cls, *, ssl_context: ssl.SSLContext | None = None, **options: Any
    ) -> AsyncIterator[Self]:
        """Serve a provider on 127.0.0.1 (https when `ssl_context` is given)."""
        provider = cls(**options)
        runner = web.AppRunner(provider.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        provider.issuer = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
        try:
            yield provider
        finally:
            await provider._cancel_delayed_handlers()
            await runner.cleanup()

    async def _cancel_delayed_handlers(self) -> None:
        """Stop handlers still sleeping in a slow-response scenario after the client gave up."""
        for task in self._delayed_handlers:
            task.cancel()
        await asyncio.gather(*self._delayed_handlers, return_exceptions=True)

    def app(self) -> web.Application:
        """Return the aiohttp application serving all endpoints."""
        app = web.Application()
        app.router.add_get(PATHS["discovery"], self._wrap("discovery", self._discovery))
        app.router.add_get(PATHS["authorize"], self._wrap("authorize", self._authorize))
        app.router.add_post(PATHS["token"], self._wrap("token", self._token))
        app.router.add_get(PATHS["userinfo"], self._wrap("userinfo", self._userinfo))
        app.router.add_get(PATHS["jwks"], self._wrap("jwks", self._jwks))
        return app

    def url(self, endpoint: str) -> str:
        """Return the absolute URL of an endpoint ("discovery", "token", ...)."""
        return f"{self.issuer}{PATHS[endpoint]}"

    @property
    def discovery_url(self) -> str:
        """Return the discovery document URL."""
        return self.url("discovery")

    # -- keys ------------------------------------------------------------------------------

    @property
    def signing_key(self) -> Key:
        """Return the current signing key (the client secret for HS* algorithms)."""
        if self.alg.startswith("HS"):
            return OctKey.import_key(self.client_secret.encode())
        return _pooled_key(_key_kind(self.alg), self._key_index)

    @property
    def kid(self) -> str | None:
        """Return the kid of the current signing key (None for HS*)."""
        return self.signing_key.kid

    def rotate_keys(self, *, keep_old: bool = False) -> None:
        """Sign with a fresh key; keep publishing the old one only if `keep_old`."""
        if keep_old:
            self._published_old_keys.append(self.signing_key)
        # Pool slots: index = signing key, index + 1 = "other-key", index + 2 = "enc-key".
        self._key_index += 3

    def _other_key(self) -> Key:
        return _pooled_key(_key_kind(self.alg), self._key_index + 1)

    def _enc_key(self) -> Key:
        return _pooled_key(_key_kind(self.alg), self._key_index + 2)

    def jwks_document(self) -> dict[str, Any]:
        """Return the JWK Set the jwks endpoint serves."""
        keys: list[dict[str, Any]] = []
        if not self.alg.startswith("HS"):
            current = dict(
                self.signing_key.as_dict(private=self.jwk_include_private),
                use="sig",
                alg=self.alg,
            )
            keys.append({**current, **self.jwk_parameters_override})
        keys.extend(dict(key.as_dict(private=False), use="sig") for key in self._published_old_keys)
        if self.sign_with == "enc-key":
            keys.append(dict(self._enc_key().as_dict(private=False), use="enc"))
        keys.extend(self.extra_jwks)
        return {"keys": keys}

    # -- tokens ----------------------------------------------------------------------------

    def id_token_claims(self, *, nonce: str | None, access_token: str | None) -> dict[str, Any]:
        """Return the claims of an ID token minted now, knobs applied."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.user["sub"],
            "aud": self.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None and self.include_at_hash:
            claims["at_hash"] = half_hash(access_token, self.alg, self.at_hash_digest)
        if self.id_token_include_profile:
            claims.update((name, value) for name, value in self.user.items() if name != "sub")
        claims.update(self.id_token_claims_override)
        for name in self.id_token_claims_remove:
            claims.pop(name, None)
        return claims

    def mint_id_token(self, *, nonce: str | None, access_token: str | None = None) -> str:
        """Return a signed ID token, honouring the header and signing knobs."""
        return self.sign(self.id_token_claims(nonce=nonce, access_token=access_token))

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Sign arbitrary claims as a compact JWS the way the knobs say."""
        return self.sign_payload(json.dumps(claims).encode())

    def sign_payload(self, payload: bytes) -> str:
        """Sign arbitrary payload bytes as a compact JWS the way the knobs say."""
        mode = self.sign_with
        if mode is not None and mode not in SIGN_MODES:
            raise ValueError(f"unknown sign_with {mode!r}")
        header_alg = {
            "none": "none",
            "hs256-public-key": "HS256",
            "hs256-client-secret": "HS256",
        }.get(mode or "", self.alg)
        if mode == "other-key":
            key = self._other_key()
        elif mode == "enc-key":
            key = self._enc_key()
        else:
            key = self.signing_key
        header: dict[str, Any] = {"alg": header_alg, "typ": "JWT"}
        # "other-key" claims the real kid, so the token is a forgery rather than an unknown key.
        if kid := (self.kid if mode == "other-key" else key.kid):
            header["kid"] = kid
        header.update(self.id_token_header_override)
        for name in self.id_token_header_remove:
            header.pop(name, None)
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}"
        signature = self._signature(signing_input.encode(), mode, key)
        return f"{signing_input}.{b64url(signature)}"

    def _signature(self, signing_input: bytes, mode: str | None, key: Key) -> bytes:
        if mode == "none":
            return b""
        if mode == "hs256-public-key":
            public_pem = self.signing_key.as_pem(private=False)  # type: ignore[union-attr]
            return hmac.new(public_pem, signing_input, hashlib.sha256).digest()
        if mode == "hs256-client-secret":
            return hmac.new(self.client_secret.encode(), signing_input, hashlib.sha256).digest()
        signature = JWSRegistry.algorithms[self.alg].sign(signing_input, key)
        if mode == "corrupt-signature":
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        return signature

    # -- test helpers ----------------------------------------------------------------------

    async def authorize(self, authorization_url: str) -> MultiDict[str]:
        """Follow the authorization URL like a browser and return the callback's query."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(authorization_url, allow_redirects=False, ssl=False) as response,
        ):
            location = response.headers.get("Location")
            if response.status != 302 or location is None:
                body = await response.text()
                raise AssertionError(f"/authorize answered {response.status}: {body}")
        return MultiDict(parse_qsl(urlsplit(location).query, keep_blank_values=True))

    # -- endpoints -------------------------------------------------------------------------

    def _wrap(self, endpoint: str, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            self.requests[endpoint] += 1
            if self.down:
                return web.json_response({"error": "temporarily_unavailable"}, status=503)
            if delay := self.response_delay.get(endpoint):
                handler_task = asyncio.current_task()
                assert handler_task is not None
                self._delayed_handlers.add(handler_task)
                try:
                    await asyncio.sleep(delay)
                finally:
                    self._delayed_handlers.discard(handler_task)
            if (status := self.status.get(endpoint)) is not None:
                if 300 <= status < 400:
                    location = self.redirects.get(endpoint, f"{self.issuer}/")
                    return web.Response(status=status, headers={"Location": location})
                return web.json_response({"error": "server_error"}, status=status)
            if (size := self.oversize.get(endpoint)) is not None:
                return await self._oversize_response(request, size)
            return await handler(request)

        return wrapped

    async def _oversize_response(self, request: web.Request, size: int) -> web.StreamResponse:
        body = b'{"padding": "' + b"x" * size + b'"}'
        if not self.oversize_chunked:
            return web.Response(body=body, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 65536):
            await response.write(body[start : start + 65536])
        await response.write_eof()
        return response

    def discovery_document(self) -> dict[str, Any]:
        """Return the metadata document the discovery endpoint serves."""
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("authorize"),
            "token_endpoint": self.url("token"),
            "userinfo_endpoint": self.url("userinfo"),
            "jwks_uri": self.url("jwks"),
            "end_session_endpoint": self.url("end_session"),
            "response_types_supported": ["code", "id_token", "code id_token"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.alg],
            "token_endpoint_auth_methods_supported": list(self.token_endpoint_auth_methods),
            "code_challenge_methods_supported": sorted(self.accepted_pkce_methods),
            "scopes_supported": ["openid", "profile", "email", "groups"],
            "claims_supported": ["sub", "name", "preferred_username", "email", "groups"],
            "authorization_response_iss_parameter_supported": True,
        }
        document.update(self.discovery_override)
        for name in self.discovery_remove:
            document.pop(name, None)
        return document

    async def _discovery(self, request: web.Request) -> web.StreamResponse:
        if self.discovery_raw is not None:
            return web.Response(body=self.discovery_raw, content_type="application/json")
        return web.json_response(self.discovery_document())

    async def _jwks(self, request: web.Request) -> web.StreamResponse:
        if isinstance(self.jwks_override, bytes):
            return web.Response(body=self.jwks_override, content_type="application/json")
        return web.json_response(
            self.jwks_override if self.jwks_override is not None else self.jwks_document()
        )

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        self.authorization_requests.append(dict(query))
        redirect_uri = query.get("redirect_uri")
        if (
            query.get("client_id") != self.client_id
            or query.get("response_type") != "code"
            or not redirect_uri
            or (self.redirect_uris is not None and redirect_uri not in self.redirect_uris)
        ):
            return web.Response(status=400, text="invalid authorization request")
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method", "plain") if challenge else None
        params: list[tuple[str, str]] = []
        if self.callback_error is not None:
            params.append(("error", self.callback_error))
        elif (challenge is None and self.require_pkce) or (
            method is not None and method not in self.accepted_pkce_methods
        ):
            params.append(("error", "invalid_request"))
        else:
            code = secrets.token_urlsafe(32)
            self._codes[code] = IssuedCode(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                nonce=query.get("nonce"),
                scope=query.get("scope", ""),
                code_challenge=challenge,
                code_challenge_method=method,
            )
            params.append(("code", code))
        if "state" in query:
            params.append(("state", query["state"]))
        if self.include_iss_in_callback:
            params.append(("iss", self.issuer))
        for name, value in self.callback_params_override.items():
            params = [(key, existing) for key, existing in params if key != name]
            if value is not None:
                params.append((name, value))
        params.extend(self.callback_extra_params)
        separator = "&" if "?" in redirect_uri else "?"
        location = f"{redirect_uri}{separator}{urlencode(params)}"
        return web.Response(status=302, headers={"Location": location})

    def _client_auth(self, request: web.Request, form: Mapping[str, str]) -> str | None:
        """Return the client authentication method used, or None when it is wrong."""
        authorization = request.headers.get("Authorization", "")
        uses_basic = authorization.startswith("Basic ")
        uses_post = "client_secret" in form
        if uses_basic and uses_post:
            return None  # RFC 6749 §2.3: only one authentication method per request
        if uses_basic:
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client_id, _, secret = decoded.partition(":")
            method = "client_secret_basic"
            valid = (unquote_plus(client_id), unquote_plus(secret)) == (
                self.client_id,
                self.client_secret,
            )
        elif uses_post:
            method = "client_secret_post"
            valid = (form.get("client_id"), form.get("client_secret")) == (
                self.client_id,
                self.client_secret,
            )
        else:
            method = "none"
            valid = form.get("client_id") == self.client_id
        return method if valid and method in self.token_endpoint_auth_methods else None

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = dict(await request.post())
        fields = {name: str(value) for name, value in form.items()}
        method = self._client_auth(request, fields)
        self.token_requests.append(
            {
                "form": fields,
                "auth_method": method,
                "authorization": request.headers.get("Authorization"),
            }
        )
        if isinstance(self.token_response_override, bytes):
            return web.Response(body=self.token_response_override, content_type="application/json")
        if method is None:
            return web.json_response({"error": "invalid_client"}, status=401)
        if fields.get("grant_type") == "refresh_token":
            return self._refresh(fields)
        if fields.get("grant_type") != "authorization_code":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        issued = self._codes.pop(fields.get("code", ""), None)  # single use
        if (
            issued is None
            or issued.client_id != self.client_id
            or issued.redirect_uri != fields.get("redirect_uri")
            or not self._pkce_ok(issued, fields.get("code_verifier"))
        ):
            return web.json_response({"error": "invalid_grant"}, status=400)
        access_token = secrets.token_urlsafe(32)
        self._access_tokens.add(access_token)
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_lifetime,
            "id_token": self.id_token_raw
            or self.mint_id_token(nonce=issued.nonce, access_token=access_token),
            "scope": issued.scope,
        }
        if self.issue_refresh_tokens:
            body["refresh_token"] = self.issue_refresh_token(self.user["sub"], issued.scope)
        return self._token_body(body)

    def issue_refresh_token(self, subject: str, scope: str = "openid groups") -> str:
        """Return a new live refresh token for `subject` (also for users who never logged in)."""
        refresh_token = secrets.token_urlsafe(32)
        self.refresh_tokens[refresh_token] = (subject, scope)
        return refresh_token

    def _refresh(self, fields: Mapping[str, str]) -> web.StreamResponse:
        """Answer a refresh grant (RFC 6749 §6), rotating the token like Pocket ID."""
        presented = fields.get("refresh_token", "")
        grant = self.refresh_tokens.get(presented)
        if grant is None or grant[0] in self.disabled_subjects:
            return web.json_response({"error": "invalid_grant"}, status=400)
        subject, scope = grant
        self.refreshed_subjects.append(subject)
        access_token = secrets.token_urlsafe(32)
        self._access_tokens.add(access_token)
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_lifetime,
            "scope": scope,
        }
        if self.refresh_id_token:
            claims = self.id_token_claims(nonce=None, access_token=access_token)
            if "sub" not in self.id_token_claims_override:
                claims["sub"] = subject
            body["id_token"] = self.id_token_raw or self.sign(claims)
        if self.rotate_refresh_tokens:
            del self.refresh_tokens[presented]
            body["refresh_token"] = self.issue_refresh_token(subject, scope)
        return self._token_body(body)

    def _token_body(self, body: dict[str, Any]) -> web.StreamResponse:
        if isinstance(self.token_response_override, dict):
            body.update(self.token_response_override)
        for name in self.token_response_remove:
            body.pop(name, None)
        self.token_responses.append(body)
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    @staticmethod
    def _pkce_ok(issued: IssuedCode, verifier: str | None) -> bool:
        if issued.code_challenge is None:
            return verifier is None  # RFC 9700 §2.1.1: refuse a verifier without a challenge
        if verifier is None:
            return False
        if issued.code_challenge_method == "S256":
            return hmac.compare_digest(pkce_s256(verifier), issued.code_challenge)
        return hmac.compare_digest(verifier, issued.code_challenge)

    async def _userinfo(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self._access_tokens:
            return web.json_response({"error": "invalid_token"}, status=401)
        if self.userinfo_raw is not None:
            return web.Response(body=self.userinfo_raw, content_type=self.userinfo_content_type)
        claims = {**self.user, **self.userinfo_override}
        for name in self.userinfo_remove:
            claims.pop(name, None)
        return web.json_response(claims)
