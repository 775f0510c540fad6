"""HTTP endpoints of the single sign-on login.

GET  /auth/authorize      Home Assistant's login page. Intercepted: a browser is sent to the
                          welcome page with the same query, unless it asked for the other login
                          (`skip_oidc_redirect=true`), comes from a trusted network, or Home
                          Assistant is not onboarded yet.
GET  /auth/providers      Home Assistant's provider list. Intercepted: our providers are left out,
                          because Home Assistant's page cannot run their flows (the welcome page
                          has their buttons).
GET  /auth/oidc/welcome   Validate the client's authorize request like Home Assistant does and
                          show "Log in with <provider>" buttons and "Use another login method".
                          Skipped straight to the provider with `features.default_redirect`, or
                          when ours is the only login method.
POST /auth/oidc/redirect  Start a login: keep a pending record (state, nonce, PKCE verifier,
                          client request, browser binding) and redirect to the provider.
GET  /auth/oidc/callback  Finish a login: consume the pending record once, verify the response,
                          tokens and identity, then hand a Home Assistant authorization code to
                          the client's redirect_uri, after Home Assistant's own checks. For a
                          cross-device approval, record who logged in and go to the confirmation.

Cross-device login (companion apps, passkey-only providers; device_views.py, device_login.py):

GET  /auth/oidc/welcome   For a companion app, or with `device_login=true` (linked from the welcome
                          page of every client), also start a cross-device login: show a short
                          code, the approval URL and a QR code of it, and bind the page to a
                          secret cookie. This page alone loads static/device.js. Only where
                          `features.device_login` allows the device to wait (default: local
                          network), and a few per address and network at a time.
GET  /auth/oidc/device    The approval page, in any browser: enter or confirm the code
                          (`?code=` prefills it, never submits it).
POST /auth/oidc/device    Claim the code for this browser (wrong codes are limited per network
                          and counted for Home Assistant's IP ban) and log in at the provider.
GET  /auth/oidc/device/confirm   After that login: show the waiting device, when it asked and
                          from which network, and ask to approve or deny.
POST /auth/oidc/device/confirm   Approve (explicitly confirmed) or deny; nothing is issued here.
GET  /auth/oidc/device/events    The waiting page's status: server-sent events
                          (text/event-stream) or, for polling, JSON. Only with its cookie.
GET  /auth/oidc/device/qr        The waiting page's QR code (SVG), rendered once per login. Only
                          with its cookie.
GET  /auth/oidc/device/wait      The waiting page itself: no-script fallback (meta refresh) and,
                          once approved, the hand-off of the authorization code to the client,
                          through the same checks as a browser login. Only with its cookie.

Every failure renders a translated page (4xx), never a stack trace.
"""

import hashlib
import json
import logging
import math
from dataclasses import replace
from http import HTTPStatus
from ipaddress import ip_address
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.hdrs import USER_AGENT
from homeassistant.auth.models import AuthFlowContext, Credentials
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.network import is_cloud_connection, is_hass_url
from homeassistant.util.network import is_local
from multidict import MultiDict, MultiMapping
from yarl import URL

from .audit import fire_audit_event
from .const import (
    AUTHORIZE_PATH,
    BINDING_COOKIE,
    CALLBACK_PATH,
    CONTEXT_IDENTITY,
    DEVICE_APPROVER_COOKIE,
    DEVICE_CONFIRM_PATH,
    DEVICE_EVENTS_PATH,
    DEVICE_LOGIN_PARAM,
    DEVICE_PATH,
    DEVICE_QR_PATH,
    DEVICE_WAIT_PATH,
    DEVICE_WAITING_COOKIE,
    DOMAIN,
    EVENT_LOGIN,
    EVENT_LOGIN_REFUSED,
    INSPECT_PATH,
    SKIP_REDIRECT_PARAM,
    START_PATH,
    WELCOME_PATH,
)
from .device_login import COMPANION_APP_CLIENTS, DEVICE_LOGIN_TTL, DeviceLogin, approval_url
from .hass_auth import (
    Handler,
    count_failed_login,
    count_successful_login,
    store_auth_code,
    trusted_network_applies,
    user_not_allowed_reason,
    user_onboarded,
    verify_client_id,
    verify_redirect_uri,
)
from .health import is_outage
from .identity import Identity, groups_claim_problem, identity_from_claims
from .inspection import inspect_login
from .login_state import (
    ClaimInspection,
    ClientRequest,
    DeviceApproval,
    PendingLogin,
    binding_matches,
    new_browser_binding,
)
from .oidc import OIDCError
from .provider import async_apply_identity
from .provider_logout import forget_pending_logout, provider_logout_location
from .runtime import DATA_DOMAIN, OIDCConfigEntry, loaded_entries, loaded_entry
from .settings import DeviceLoginMode

_LOGGER = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 2048
MAX_FORM_BYTES = 16 * 1024
PENDING_COOKIE_MAX_AGE = 600
# Without script, the waiting page reloads itself this often.
DEVICE_REFRESH_SECONDS = 5
# Why a device may not wait here → the status of an explicit `device_login=true` request.
DEVICE_REFUSAL_STATUS = {
    "device_off": HTTPStatus.FORBIDDEN,
    "device_not_local": HTTPStatus.FORBIDDEN,
    "device_bad_host": HTTPStatus.BAD_REQUEST,
    "device_busy": HTTPStatus.TOO_MANY_REQUESTS,
}

# Errors the user can do something about; everything else is "verification failed".
PROVIDER_UNAVAILABLE_CODES = frozenset(
    {
        "discovery_unreachable",
        "discovery_tls",
        "discovery_http_status",
        "jwks_unreachable",
        "timeout",
        "token_request_failed",
        "userinfo_failed",
        "response_too_large",
    }
)


class LoginPageError(Exception):
    """A login failure to show to the user as a translated page."""

    def __init__(
        self,
        reason: str,
        *,
        detail: str = "",
        status: HTTPStatus = HTTPStatus.BAD_REQUEST,
        counted: bool = True,
        account: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """Describe the failure by a translation key, a technical detail and who, when known."""
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.status = status
        # Whether a refused callback counts as a failed login for Home Assistant's IP ban.
        self.counted = counted
        self.account = account
        self.user_id = user_id


def _optional(params: MultiMapping[str], name: str) -> str | None:
    """Return a parameter given at most once and of bounded length; empty counts as absent."""
    values = params.getall(name, [])
    if len(values) > 1 or any(len(value) > MAX_PARAM_LENGTH for value in values):
        # RFC 6749 §3.1: request parameters must not be included more than once.
        raise LoginPageError("invalid_request", detail=f"malformed parameter {name}")
    return values[0] if values and values[0] else None


def _required(params: MultiMapping[str], name: str) -> str:
    """Return a parameter that must be given exactly once."""
    if (value := _optional(params, name)) is None:
        raise LoginPageError("invalid_request", detail=f"missing parameter {name}")
    return value


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    """Return a URL's origin (scheme, host, port with the default filled in)."""
    return (url.scheme, url.host, url.port)


def _is_frontend_client(request: web.Request, client: ClientRequest) -> bool:
    """Tell whether the client is this Home Assistant's own web frontend, by its origin."""
    hass = request.app[KEY_HASS]
    try:
        client_url, redirect = URL(client.client_id), URL(client.redirect_uri)
    except ValueError:
        return False
    if client_url.path != "/" or _origin(client_url) != _origin(redirect):
        return False
    if "auth_callback=1" not in redirect.raw_query_string.split("&"):
        return False
    # The shape alone proves nothing (anyone can host "/?auth_callback=1"): the client must
    # be this Home Assistant's origin as the browser reached it (after Home Assistant's
    # forwarded middleware), or one of its configured URLs (internal, external, cloud).
    own = {_origin(request.url), _origin(public_origin(request, loaded_entries(hass)))}
    return _origin(client_url) in own or is_hass_url(hass, client.client_id)


async def parse_client_request(hass: HomeAssistant, params: MultiMapping[str]) -> ClientRequest:
    """Validate a client's authorize request exactly as Home Assistant's login would."""
    if _optional(params, "response_type") not in (None, "code"):
        # RFC 6749 §4.1.1: only the authorization code grant.
        raise LoginPageError("invalid_request", detail="unsupported response_type")
    client_id = _required(params, "client_id")
    redirect_uri = _required(params, "redirect_uri")
    state = _optional(params, "state")
    code_challenge = _optional(params, "code_challenge")
    code_challenge_method = _optional(params, "code_challenge_method")
    if code_challenge_method is not None and code_challenge is None:
        raise LoginPageError("invalid_request", detail="code_challenge missing")
    if code_challenge is not None and code_challenge_method != "S256":
        # RFC 7636 §4.3 / RFC 9700 §2.1.1: S256 only, no "plain".
        raise LoginPageError("invalid_request", detail="code_challenge_method must be S256")
    if not verify_client_id(client_id):
        raise LoginPageError("invalid_request", detail="invalid client_id")
    # RFC 6749 §10.6 / RFC 9700 §4.1: never redirect to an unverified URI (no open redirect).
    if not await verify_redirect_uri(
        hass,
        client_id,
        redirect_uri,
        allow_loopback_port_change=code_challenge is not None,
    ):
        raise LoginPageError("invalid_redirect_uri", detail="redirect_uri not allowed")
    store_token = _optional(params, "store_token") == "true"
    return ClientRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        # Honoured only for Home Assistant's own frontend (see _hand_off).
        store_token=store_token,
    )


def _client_query(client: ClientRequest) -> dict[str, str]:
    """Return the authorize query that reproduces the client's request."""
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
    }
    for name, value in (
        ("state", client.state),
        ("code_challenge", client.code_challenge),
        ("code_challenge_method", client.code_challenge_method),
    ):
        if value is not None:
            query[name] = value
    return query


def alternative_login_url(client: ClientRequest | None) -> str:
    """Return Home Assistant's own login page for the client, without our redirect."""
    query = _client_query(client) if client else {}
    return f"{AUTHORIZE_PATH}?{urlencode({**query, SKIP_REDIRECT_PARAM: 'true'})}"


def is_companion_app(client: ClientRequest) -> bool:
    """Tell whether the request comes from a Home Assistant companion app (iOS, Android)."""
    return client.client_id in COMPANION_APP_CLIENTS


def _device_query(client: ClientRequest) -> dict[str, str]:
    """Return the client's authorize query that asks the welcome page for a device code."""
    query = _client_query(client)
    if not is_companion_app(client):
        query[DEVICE_LOGIN_PARAM] = "true"
    return query


def device_cookie_name(prefix: str, login_id: str) -> str:
    """Return the name of a cookie that binds a browser to one cross-device login."""
    return f"{prefix}_{hashlib.sha256(login_id.encode()).hexdigest()[:16]}"


def set_device_cookie(
    request: web.Request,
    response: web.StreamResponse,
    prefix: str,
    login: DeviceLogin,
    value: str,
) -> None:
    """Bind the browser to a cross-device login by a random HttpOnly cookie."""
    waiting = prefix == DEVICE_WAITING_COOKIE
    response.set_cookie(
        device_cookie_name(prefix, login.login_id),
        value,
        max_age=int(DEVICE_LOGIN_TTL),
        # The approver's cookie must also reach our callback, after the provider.
        path=DEVICE_PATH if waiting else "/auth/oidc",
        httponly=True,
        # Strict: the waiting page's own requests are same-site. Lax: the approving browser
        # comes back from the provider by a cross-site top-level GET (RFC 6265bis §8.8).
        samesite="Strict" if waiting else "Lax",
        secure=request.scheme == "https" or _forces_https(loaded_entries(request.app[KEY_HASS])),
    )


def public_origin(request: web.Request, entries: list[OIDCConfigEntry]) -> URL:
    """Return this Home Assistant's origin as the browser reaches it (proxy-aware)."""
    url = request.url.with_path("/").with_query(None).with_fragment(None)
    if _forces_https(entries):
        url = url.with_scheme("https").with_port(None if url.port in (80, 443) else url.port)
    return url


def _forces_https(entries: list[OIDCConfigEntry]) -> bool:
    """Tell whether a provider says browsers reach Home Assistant by https (force_https)."""
    return any(entry.runtime_data.settings.features.force_https for entry in entries)


def _is_local_request(request: web.Request) -> bool:
    """Tell whether the request comes from a local network (Home Assistant's definition)."""
    try:
        return is_local(ip_address(request.remote or ""))
    except ValueError:
        return False


def device_login_mode(entries: list[OIDCConfigEntry]) -> DeviceLoginMode:
    """Return the strictest cross-device setting of the loaded providers (fail closed)."""
    order = list(DeviceLoginMode)
    modes = (entry.runtime_data.settings.features.device_login for entry in entries)
    return min(modes, key=order.index, default=DeviceLoginMode.OFF)


def waiting_device_refusal(request: web.Request, entries: list[OIDCConfigEntry]) -> str | None:
    """Return why no device may wait for a cross-device login from here, or None if it may."""
    # RFC 8628 §5.4 (remote phishing): by default only a device on the local network may
    # wait, so that a stranger cannot show a victim a genuine app's code from afar. "Local"
    # is Home Assistant's notion (homeassistant.util.network.is_local on the address its
    # forwarded middleware established from trusted proxies); Home Assistant Cloud is remote.
    mode = device_login_mode(entries)
    if mode is DeviceLoginMode.OFF:
        return "device_off"
    if mode is DeviceLoginMode.LOCAL and (
        is_cloud_connection(request.app[KEY_HASS]) or not _is_local_request(request)
    ):
        return "device_not_local"
    return None


def _skips_welcome(
    request: web.Request,
    entries: list[OIDCConfigEntry],
    client: ClientRequest,
    device_mode: bool = False,
) -> bool:
    """Tell whether the welcome page goes straight to the (single) provider."""
    if len(entries) != 1 or device_mode:
        # Companion apps always see the welcome page: it offers the cross-device login.
        return False
    if not _is_frontend_client(request, client):
        # Another application asks for access: the user must see which one (consent).
        return False
    if entries[0].runtime_data.settings.features.default_redirect:
        return True
    return all(provider.type == DOMAIN for provider in request.app[KEY_HASS].auth.auth_providers)


async def authorize_interceptor(request: web.Request, original: Handler) -> web.StreamResponse:
    """Send browsers from Home Assistant's login page to the welcome page."""
    hass = request.app[KEY_HASS]
    if (
        request.query.get(SKIP_REDIRECT_PARAM) == "true"
        or not loaded_entries(hass)
        or not user_onboarded(hass)
        or trusted_network_applies(hass, request)
    ):
        response = await original(request)
        # Home Assistant serves this page without caching headers, so browsers may reuse a
        # copy from before SSO was set up: make them ask again every time.
        response.headers["Cache-Control"] = "no-cache"
        return response
    return _redirect(str(URL(WELCOME_PATH).with_query(request.query)))


async def providers_interceptor(request: web.Request, original: Handler) -> web.StreamResponse:
    """Hide our providers from Home Assistant's own login page, which cannot run their flows."""
    response = await original(request)
    if not isinstance(response, web.Response) or response.status != HTTPStatus.OK:
        return response
    if not isinstance(response.body, bytes):
        return response
    try:
        payload = json.loads(response.body)
        payload["providers"] = [
            provider for provider in payload["providers"] if provider.get("type") != DOMAIN
        ]
    except ValueError, KeyError, TypeError, AttributeError:
        return response
    return web.json_response(payload)


def _callback_url(request: web.Request, entry: OIDCConfigEntry) -> str:
    """Return our callback URL as the browser reaches Home Assistant (proxy-aware)."""
    # Home Assistant's forwarded middleware has already applied trusted X-Forwarded-* headers.
    url = request.url.with_path(CALLBACK_PATH).with_query(None).with_fragment(None)
    if entry.runtime_data.settings.features.force_https:
        url = url.with_scheme("https").with_port(None if url.port in (80, 443) else url.port)
    return str(url)


def _redirect(location: str) -> web.Response:
    """Return a 302 redirect that is never cached and leaks no referrer."""
    return web.Response(
        status=HTTPStatus.FOUND,
        headers={
            "Location": location,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


def _binding_cookie_name(state: str) -> str:
    """Return the cookie name that binds one pending login to its browser."""
    return f"{BINDING_COOKIE}_{hashlib.sha256(state.encode()).hexdigest()[:16]}"


async def start_login(
    request: web.Request,
    entry: OIDCConfigEntry,
    client: ClientRequest | DeviceApproval | ClaimInspection,
) -> web.Response:
    """Create the pending login and redirect the browser to the provider."""
    hass = request.app[KEY_HASS]
    domain = hass.data[DATA_DOMAIN]
    callback_url = _callback_url(request, entry)
    try:
        authorization = await entry.runtime_data.client.start_authorization(callback_url)
    except OIDCError as err:
        entry.runtime_data.health.record_failure(err.code)
        if err.code == "discovery_insecure_endpoint":
            # The detail names the endpoint; the page tells the administrator how to allow it.
            raise LoginPageError(
                "provider_insecure", detail=err.detail, status=HTTPStatus.SERVICE_UNAVAILABLE
            ) from err
        raise LoginPageError(
            "provider_unavailable", detail=err.code, status=HTTPStatus.SERVICE_UNAVAILABLE
        ) from err
    cookie_value, binding_hash = new_browser_binding()
    domain.pending_logins.add(
        authorization.state,
        PendingLogin(
            entry_id=entry.entry_id,
            client=client,
            authorization=authorization,
            browser_binding_hash=binding_hash,
            created=domain.pending_logins.now(),
        ),
        address=request.remote or "",
    )
    response = _redirect(authorization.url)
    response.set_cookie(
        _binding_cookie_name(authorization.state),
        cookie_value,
        max_age=PENDING_COOKIE_MAX_AGE,
        path=CALLBACK_PATH,
        httponly=True,
        # Lax: the provider's redirect back to us is a top-level GET navigation.
        samesite="Lax",
        secure=callback_url.startswith("https://"),
    )
    return response


def _error_page(
    request: web.Request,
    error: LoginPageError,
    client: ClientRequest | DeviceApproval | ClaimInspection | None = None,
) -> web.Response:
    """Render a translated error page with a way back to a working login."""
    hass = request.app[KEY_HASS]
    if isinstance(client, DeviceApproval):
        # The approving browser has no client of its own: back to the code form.
        retry_url, alternative_url = DEVICE_PATH, None
    elif isinstance(client, ClaimInspection):
        # An administrator's test login: back to Home Assistant, where the options are.
        retry_url, alternative_url = "/", None
    else:
        retry_url = f"{WELCOME_PATH}?{urlencode(_client_query(client))}" if client else "/"
        alternative_url = alternative_login_url(client)
    return hass.data[DATA_DOMAIN].pages.render(
        hass,
        request,
        "error.html",
        status=error.status,
        reason=error.reason,
        detail=error.detail,
        retry_url=retry_url,
        alternative_url=alternative_url,
    )


async def _provider_choices(entries: list[OIDCConfigEntry]) -> list[dict[str, Any]]:
    """Return the welcome page's provider buttons, each with its reachability."""
    providers = []
    for entry in entries:
        error: str | None = None
        try:
            await entry.runtime_data.client.metadata()
        except OIDCError as err:
            error = err.code
            entry.runtime_data.health.record_failure(err.code)
        else:
            entry.runtime_data.health.record_reachable()
        providers.append(
            {
                "entry_id": entry.entry_id,
                "name": entry.runtime_data.settings.display_name,
                "error": error,
            }
        )
    return providers


def _device_section(
    request: web.Request, entries: list[OIDCConfigEntry], login: DeviceLogin
) -> dict[str, Any]:
    """Return what the waiting page shows: code, approval URL, QR code, status."""
    hass = request.app[KEY_HASS]
    login_query = {"login": login.login_id}
    # The client's request rides along only to offer a new code once this one has expired.
    wait_query = {**login_query, **_device_query(login.client)}
    return {
        "code": login.display_code,
        "approve_url": login.approval_url,
        # Rendered once per login, and only for the page that holds its cookie.
        "qr_url": f"{DEVICE_QR_PATH}?{urlencode(login_query)}",
        "status": login.public_status,
        "valid_minutes": str(int(hass.data[DATA_DOMAIN].device_logins.code_ttl // 60)),
        "events_url": f"{DEVICE_EVENTS_PATH}?{urlencode(login_query)}",
        "wait_url": f"{DEVICE_WAIT_PATH}?{urlencode(wait_query)}",
        "refresh_seconds": DEVICE_REFRESH_SECONDS,
    }


async def render_welcome(
    request: web.Request,
    client: ClientRequest,
    entries: list[OIDCConfigEntry],
    login: DeviceLogin | None = None,
    *,
    device_notice: str | None = None,
    status: HTTPStatus = HTTPStatus.OK,
) -> web.Response:
    """Render the welcome page, with the cross-device login when there is one."""
    hass = request.app[KEY_HASS]
    busy_for = hass.data[DATA_DOMAIN].device_logins.creation_blocked_for(request.remote)
    frontend = _is_frontend_client(request, client)
    third_party = not frontend and not is_companion_app(client)
    return hass.data[DATA_DOMAIN].pages.render(
        hass,
        request,
        "welcome.html",
        status=status,
        allow_script=login is not None,
        providers=await _provider_choices(entries),
        client_fields=_client_query(client),
        offer_store_token=frontend,
        store_token_checked=_is_local_request(request),
        third_party_client=client.client_id if third_party else None,
        third_party_host=URL(client.client_id).host if third_party else None,
        start_url=START_PATH,
        alternative_url=alternative_login_url(client),
        device=_device_section(request, entries, login) if login else None,
        device_notice=device_notice,
        device_busy_minutes=str(max(1, math.ceil(busy_for / 60))),
        # Offered only where a waiting device is allowed (features.device_login).
        device_link=(
            None
            if waiting_device_refusal(request, entries)
            else f"{WELCOME_PATH}?{urlencode(_device_query(client))}"
        ),
    )


class WelcomeView(HomeAssistantView):
    """Show the provider buttons and the alternative login."""

    url = WELCOME_PATH
    name = "auth_oidc:welcome"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Render the welcome page for a validated authorize request."""
        hass = request.app[KEY_HASS]
        if (end_session := await provider_logout_location(request)) is not None:
            # RP-Initiated Logout 1.0 §2: end the provider session of the logout just done.
            response = _redirect(end_session)
            forget_pending_logout(response)
            return response
        try:
            client = await parse_client_request(hass, request.query)
        except LoginPageError as err:
            return _error_page(request, err)
        entries = loaded_entries(hass)
        if not entries:
            raise web.HTTPFound(alternative_login_url(client))
        device_mode = is_companion_app(client) or request.query.get(DEVICE_LOGIN_PARAM) == "true"
        if _skips_welcome(request, entries, client, device_mode):
            try:
                return await start_login(request, entries[0], client)
            except LoginPageError:
                pass  # Show the welcome page, which explains the problem.
        if not device_mode:
            return await render_welcome(request, client, entries)
        if _is_frontend_client(request, client):
            # No "Keep me logged in" box on this path: its default applies (local network).
            client = replace(client, store_token=_is_local_request(request))
        return await _start_device_login(request, client, entries)


async def _start_device_login(
    request: web.Request, client: ClientRequest, entries: list[OIDCConfigEntry]
) -> web.Response:
    """Show the waiting page of a new cross-device login, or the welcome page saying why not."""
    refusal = waiting_device_refusal(request, entries)
    # The Host header names the approval URL and its QR code: only a valid, short one.
    url = approval_url(
        request.scheme, request.host, DEVICE_PATH, force_https=_forces_https(entries)
    )
    if refusal is None and url is None:
        refusal = "device_bad_host"
    created = None
    if refusal is None and url is not None:
        store = request.app[KEY_HASS].data[DATA_DOMAIN].device_logins
        created = store.create(
            client,
            user_agent=request.headers.get(USER_AGENT, ""),
            remote=request.remote,
            approval_url=url,
        )
    if created is None:
        refusal = refusal or "device_busy"
        # The app's own welcome page stays usable; an explicit request learns why not.
        explicit = not is_companion_app(client)
        notice = None if refusal == "device_off" and not explicit else refusal
        status = DEVICE_REFUSAL_STATUS[refusal] if explicit else HTTPStatus.OK
        return await render_welcome(request, client, entries, device_notice=notice, status=status)
    login, cookie_value = created
    response = await render_welcome(request, client, entries, login)
    set_device_cookie(request, response, DEVICE_WAITING_COOKIE, login, cookie_value)
    return response


def _is_cross_origin(request: web.Request) -> bool:
    """Tell whether a browser says the request comes from another origin (Fetch Metadata)."""
    if (fetch_site := request.headers.get("Sec-Fetch-Site")) is not None:
        # "same-site" includes sibling subdomains (another app on the same domain): refused.
        # "none" is a navigation the user started (no page sent it).
        return fetch_site not in ("same-origin", "none")
    # Browsers without Fetch Metadata: compare the Origin's host and port with ours. The
    # scheme is left out: behind a TLS-terminating proxy the request may look like http.
    # "null" is what a post from our own pages carries under Referrer-Policy: no-referrer.
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() != request.host.lower()


async def read_form(request: web.Request) -> MultiDict[str]:
    """Return the posted form fields; refuse cross-origin posts, uploads, malformed bodies."""
    if _is_cross_origin(request):
        # Login CSRF (RFC 9700 §4.7): our forms are only ever posted from our own pages.
        raise LoginPageError(
            "invalid_request", detail="cross-origin form post", status=HTTPStatus.FORBIDDEN
        )
    if request.content_type != "application/x-www-form-urlencoded":
        # Refused before reading: no multipart parsing, no temporary files for uploads.
        raise LoginPageError("invalid_request", detail="form expected")
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise LoginPageError("invalid_request", detail="form too large")
    try:
        form = await request.post()
    except (ValueError, LookupError, web.HTTPException) as err:
        # Undecodable charset or body: a clear page, not a 500.
        raise LoginPageError("invalid_request", detail="malformed form") from err
    fields: MultiDict[str] = MultiDict()
    for key, value in form.items():
        if not isinstance(value, str):
            raise LoginPageError("invalid_request", detail="unexpected upload")
        fields.add(key, value)
    return fields


class StartView(HomeAssistantView):
    """Start a login at the chosen provider."""

    url = START_PATH
    name = "auth_oidc:redirect"
    requires_auth = False

    async def post(self, request: web.Request) -> web.Response:
        """Validate the form and redirect to the provider."""
        client: ClientRequest | None = None
        try:
            params = await read_form(request)
            client = await parse_client_request(request.app[KEY_HASS], params)
            return await start_login(request, self._entry(request, params), client)
        except LoginPageError as err:
            return _error_page(request, err, client)

    @staticmethod
    def _entry(request: web.Request, params: MultiDict[str]) -> OIDCConfigEntry:
        """Return the loaded provider the user picked."""
        if (entry := loaded_entry(request.app[KEY_HASS], _required(params, "entry_id"))) is None:
            raise LoginPageError("invalid_request", detail="unknown provider")
        return entry


class InspectView(HomeAssistantView):
    """Start an administrator's test login from a one-time link of the options flow."""

    url = INSPECT_PATH
    name = "auth_oidc:inspect"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Spend the grant and send the browser to the provider."""
        client = ClaimInspection()
        try:
            return await start_login(request, self._entry(request), client)
        except LoginPageError as err:
            return _error_page(request, err, client)

    @staticmethod
    def _entry(request: web.Request) -> OIDCConfigEntry:
        """Return the provider whose test login the grant allows; the grant is spent."""
        hass = request.app[KEY_HASS]
        grants = hass.data[DATA_DOMAIN].inspection_grants
        entry_id = grants.redeem(_required(request.query, "grant"))
        if entry_id is None or (entry := loaded_entry(hass, entry_id)) is None:
            raise LoginPageError("inspect_link_expired", status=HTTPStatus.FORBIDDEN)
        return entry


class CallbackView(HomeAssistantView):
    """Finish a login that the provider sent back."""

    url = CALLBACK_PATH
    name = "auth_oidc:callback"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Verify the provider's response and hand the login to the client."""
        pending: PendingLogin | None = None
        entry: OIDCConfigEntry | None = None
        try:
            pending = self._take_pending(request)
            entry = self._entry(request, pending)
            if isinstance(pending.client, ClaimInspection):
                return await inspect_login(request, entry, pending)
            identity = await self._verify(request, entry, pending)
            if isinstance(pending.client, DeviceApproval):
                return _device_approval_verified(request, entry, pending.client, identity)
            response = await _hand_off(request, entry, pending.client, identity)
        except LoginPageError as err:
            if entry is not None:
                entry.runtime_data.health.record_outcome(err.reason)
            if pending is not None:
                # Only logins this browser really started: a stray callback is no audit event.
                fire_audit_event(
                    request.app[KEY_HASS],
                    EVENT_LOGIN_REFUSED,
                    user_id=err.user_id,
                    provider=entry.title if entry else None,
                    remote=request.remote,
                    reason=err.reason,
                    account=err.account,
                )
            if err.counted and err.reason not in (
                "provider_unavailable",
                "access_denied",
                "client_rejected",
            ):
                await count_failed_login(request)
            return _error_page(request, err, pending.client if pending else None)
        entry.runtime_data.health.record_outcome("success")
        return response

    @staticmethod
    def _entry(request: web.Request, pending: PendingLogin) -> OIDCConfigEntry:
        """Return the provider the login was started at, if it is still loaded."""
        if (entry := loaded_entry(request.app[KEY_HASS], pending.entry_id)) is None:
            raise LoginPageError("provider_unavailable", detail="provider unloaded")
        return entry

    def _take_pending(self, request: web.Request) -> PendingLogin:
        """Consume the pending login named by `state`; it must come from the same browser."""
        hass = request.app[KEY_HASS]
        state = _required(request.query, "state")
        store = hass.data[DATA_DOMAIN].pending_logins
        # RFC 6749 §10.12 / RFC 9700 §4.7: unknown, expired or replayed state is refused.
        pending = store.peek(state)
        if pending is None:
            # Not counted for the IP ban: nobody guesses a 256-bit state, and unknown states
            # are honest users' expired, evicted or already used logins (reload, back button).
            raise LoginPageError("login_expired", detail="unknown or used state", counted=False)
        # RFC 9700 §4.7.1: only the browser that started the login may finish (or spend) it.
        if not binding_matches(pending, request.cookies.get(_binding_cookie_name(state))):
            raise LoginPageError("login_expired", detail="started in another browser")
        store.take(state)
        return pending

    async def _verify(
        self, request: web.Request, entry: OIDCConfigEntry, pending: PendingLogin
    ) -> Identity:
        """Verify the callback and return the identity, or raise a page error."""
        runtime = entry.runtime_data
        try:
            result = await runtime.client.complete_login(request.query, pending.authorization)
        except OIDCError as err:
            runtime.health.record_failure(err.code, err.provider_error)
            if not is_outage(err.code, err.provider_error):
                # An outage is logged once by the health tracker, not per failed login.
                _LOGGER.warning("Login at %s failed: %s (%s)", entry.title, err.code, err)
            if err.code == "provider_error":
                reason = (
                    "access_denied"
                    if getattr(err, "provider_error", None) == "access_denied"
                    else "provider_error"
                )
                raise LoginPageError(reason, detail=err.code) from err
            if err.code == "token_request_failed" and err.provider_error == "invalid_client":
                # RFC 6749 §5.2: our own client credentials are wrong; the admin must act.
                raise LoginPageError(
                    "client_rejected", detail=err.code, status=HTTPStatus.BAD_GATEWAY
                ) from err
            if err.code == "token_request_failed" and err.provider_error == "invalid_grant":
                # RFC 6749 §5.2: the provider refused the code itself: an injected, replayed
                # or forged code, not an outage.
                raise LoginPageError("verification_failed", detail=err.code) from err
            if err.code in PROVIDER_UNAVAILABLE_CODES:
                raise LoginPageError(
                    "provider_unavailable", detail=err.code, status=HTTPStatus.BAD_GATEWAY
                ) from err
            raise LoginPageError("verification_failed", detail=err.code) from err
        runtime.health.record_reachable()
        runtime.health.record_id_token_time(result.id_token_claims.get("iat"))
        runtime.health.record_callback_url(
            pending.authorization.redirect_uri, request.headers.get("X-Forwarded-Proto")
        )
        identity = identity_from_claims(
            result.issuer, result.subject, result.claims, runtime.settings
        )
        groups_claim = runtime.settings.claims.groups
        problem = groups_claim_problem(result.claims, groups_claim)
        if not identity.allowed:
            note = problem or (
                f"the {groups_claim} claim was absent" if groups_claim not in result.claims else ""
            )
            _LOGGER.info(
                "%s refused: not in group %s%s",
                identity.display_name,
                runtime.settings.roles.user,
                f" ({note})" if note else "",
            )
            raise LoginPageError(
                "groups_unreadable" if problem else "not_allowed",
                detail=note,
                status=HTTPStatus.FORBIDDEN,
                account=identity.display_name,
            )
        if problem:
            _LOGGER.warning("%s logged in without groups: %s", identity.display_name, problem)
        if runtime.settings.features.end_provider_session:
            runtime.id_token_hints.record(result.subject, result.id_token)
        if runtime.access_recheck is not None:
            await runtime.access_recheck.async_login(result.subject, result.refresh_token)
        return identity


def _device_approval_verified(
    request: web.Request, entry: OIDCConfigEntry, approval: DeviceApproval, identity: Identity
) -> web.Response:
    """Remember who logged in to approve a cross-device login; go on to the confirmation."""
    store = request.app[KEY_HASS].data[DATA_DOMAIN].device_logins
    login = store.verified(
        approval.login_id,
        request.cookies.get(device_cookie_name(DEVICE_APPROVER_COOKIE, approval.login_id)),
        entry_id=entry.entry_id,
        identity=identity,
        approver_remote=request.remote,
    )
    if login is None:
        raise LoginPageError("login_expired", detail="device login expired")
    return _redirect(f"{DEVICE_CONFIRM_PATH}?{urlencode({'login': login.login_id})}")


async def _hand_off(
    request: web.Request, entry: OIDCConfigEntry, client: ClientRequest, identity: Identity
) -> web.Response:
    """Run our login flow, apply Home Assistant's checks and redirect with an auth code."""
    hass = request.app[KEY_HASS]
    provider = entry.runtime_data.provider
    context: dict[str, Any] = {
        "ip_address": ip_address(request.remote or "0.0.0.0"),  # noqa: S104
        "redirect_uri": client.redirect_uri,
        CONTEXT_IDENTITY: identity,
    }
    if client.code_challenge and client.code_challenge_method:
        context["code_challenge"] = client.code_challenge
        context["code_challenge_method"] = client.code_challenge_method
    result = await hass.auth.login_flow.async_init(
        (DOMAIN, provider.issuer), context=cast(AuthFlowContext, context)
    )
    if result["type"] is not FlowResultType.CREATE_ENTRY:
        raise LoginPageError("verification_failed", detail="login flow did not finish")
    credentials: Credentials = result["result"]
    # Home Assistant's login view checks, repeated for our path (components/auth/login_flow.py).
    if not await verify_redirect_uri(
        hass,
        client.client_id,
        client.redirect_uri,
        allow_loopback_port_change=client.code_challenge is not None,
    ):
        raise LoginPageError("invalid_redirect_uri", status=HTTPStatus.FORBIDDEN)
    user = await hass.auth.async_get_user_by_credentials(credentials)
    if user is not None:
        if (refusal := user_not_allowed_reason(hass, user, request)) is not None:
            _LOGGER.info("Login of %s blocked: %s", user.name, refusal)
            raise LoginPageError(
                "account_disabled",
                status=HTTPStatus.FORBIDDEN,
                account=identity.display_name,
                user_id=user.id,
            )
        await async_apply_identity(
            hass, user, identity, provider=entry.title, remote=request.remote
        )
    entry.runtime_data.sessions.record(credentials.id, identity.session_id, client.client_id)
    count_successful_login(request)
    # A first login has no user yet: Home Assistant creates it when the client redeems the code.
    fire_audit_event(
        hass,
        EVENT_LOGIN,
        user_id=user.id if user else None,
        provider=entry.title,
        remote=request.remote,
        account=identity.display_name,
        username=identity.username,
        role=identity.role.value,
        new_user=user is None,
        client_id=client.client_id,
    )
    code = store_auth_code(
        hass, client.client_id, credentials, client.code_challenge, client.code_challenge_method
    )
    response_params = {"code": code}
    if client.state is not None:
        response_params["state"] = client.state
    if client.store_token and _is_frontend_client(request, client):
        response_params["storeToken"] = "true"
    separator = "&" if urlsplit(client.redirect_uri).query else "?"
    if client.redirect_uri.endswith(("?", "&")):
        separator = ""
    return _redirect(f"{client.redirect_uri}{separator}{urlencode(response_params)}")
