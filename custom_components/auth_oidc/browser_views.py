"""Serve the browser's single sign-on: interception, welcome page, start, callback, test login.

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
                          when ours is the only login method. Right after a logout with
                          `features.end_provider_session`, redirect to the provider's
                          end_session_endpoint instead (provider_logout.py).
                          For a companion app, or with `device_login=true` (linked from the
                          welcome page of every client), also start a cross-device login: show a
                          short code, the approval URL and a QR code of it, and bind the page to
                          a secret cookie. This page alone loads static/device.js. Only where
                          `features.device_login` allows the device to wait (default: local
                          network), and a few per address and network at a time. The rest of the
                          cross-device login is served by device_views.py.
POST /auth/oidc/redirect  Start a login: keep a pending record (state, nonce, PKCE verifier,
                          client request, browser binding) and redirect to the provider.
GET  /auth/oidc/inspect   An administrator's test login from the options flow's one-time link
                          (`?grant=`): start a login whose callback shows the claims and creates
                          nothing (inspection.py).
GET  /auth/oidc/callback  Finish a login: consume the pending record once, verify the response,
                          tokens and identity, then hand a Home Assistant authorization code to
                          the client's redirect_uri, after Home Assistant's own checks
                          (hand_off.py). For a cross-device approval, record who logged in and go
                          to the confirmation.

Every failure renders a translated page (4xx, login_page.py), never a stack trace.
"""

import hashlib
import json
import logging
import math
from dataclasses import replace
from enum import StrEnum, auto
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.hdrs import USER_AGENT
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.network import is_cloud_connection
from multidict import MultiDict
from yarl import URL

from .audit import fire_audit_event
from .const import (
    BINDING_COOKIE,
    CALLBACK_PATH,
    DEVICE_APPROVER_COOKIE,
    DEVICE_CONFIRM_PATH,
    DEVICE_EVENTS_PATH,
    DEVICE_LOGIN_PARAM,
    DEVICE_PATH,
    DEVICE_QR_PATH,
    DEVICE_WAIT_PATH,
    DEVICE_WAITING_COOKIE,
    DOMAIN,
    EVENT_LOGIN_REFUSED,
    INSPECT_PATH,
    SKIP_REDIRECT_PARAM,
    START_PATH,
    WELCOME_PATH,
)
from .device_login import DeviceLogin, approval_url
from .hand_off import hand_off
from .hass_auth import Handler, count_failed_login, trusted_network_applies, user_onboarded
from .identity import Identity, groups_claim_problem, identity_from_claims
from .inspection import inspect_login
from .login_clients import ClaimInspection, ClientRequest, DeviceApproval, LoginClient
from .login_page import (
    LoginPageError,
    LoginPageReason,
    alternative_login_url,
    client_query,
    device_cookie_name,
    device_query,
    error_page,
    forces_https,
    is_companion_app,
    is_frontend_client,
    is_local_request,
    parse_client_request,
    read_form,
    redirect,
    required_param,
    set_device_cookie,
)
from .login_state import (
    PendingLogin,
    binding_matches,
    new_browser_binding,
)
from .oidc import ErrorCode, OIDCError
from .provider_logout import forget_pending_logout, provider_logout_location
from .runtime import DATA_DOMAIN, OIDCConfigEntry, loaded_entries, loaded_entry
from .settings import DeviceLoginMode

_LOGGER = logging.getLogger(__name__)

PENDING_COOKIE_MAX_AGE = 600
# Without script, the waiting page reloads itself this often.
DEVICE_REFRESH_SECONDS = 5


class DeviceRefusal(StrEnum):
    """Why no device may wait here; each value is a key of `device_unavailable` in the pages."""

    DEVICE_OFF = auto()
    DEVICE_NOT_LOCAL = auto()
    DEVICE_BAD_HOST = auto()
    DEVICE_BUSY = auto()


# Why a device may not wait here → the status of an explicit `device_login=true` request.
DEVICE_REFUSAL_STATUS = {
    DeviceRefusal.DEVICE_OFF: HTTPStatus.FORBIDDEN,
    DeviceRefusal.DEVICE_NOT_LOCAL: HTTPStatus.FORBIDDEN,
    DeviceRefusal.DEVICE_BAD_HOST: HTTPStatus.BAD_REQUEST,
    DeviceRefusal.DEVICE_BUSY: HTTPStatus.TOO_MANY_REQUESTS,
}


# Refused callbacks that are no failed login for Home Assistant's IP ban: an outage, the
# user's own "no" at the provider, or our client's configuration.
UNCOUNTED_REASONS = frozenset(
    {
        LoginPageReason.PROVIDER_UNAVAILABLE,
        LoginPageReason.ACCESS_DENIED,
        LoginPageReason.CLIENT_REJECTED,
    }
)


def device_login_mode(entries: list[OIDCConfigEntry]) -> DeviceLoginMode:
    """Return the strictest cross-device setting of the loaded providers (fail closed)."""
    order = list(DeviceLoginMode)
    modes = (entry.runtime_data.settings.features.device_login for entry in entries)
    return min(modes, key=order.index, default=DeviceLoginMode.OFF)


def waiting_device_refusal(
    request: web.Request, entries: list[OIDCConfigEntry]
) -> DeviceRefusal | None:
    """Return why no device may wait for a cross-device login from here, or None if it may."""
    # RFC 8628 §5.4 (remote phishing): by default only a device on the local network may
    # wait, so that a stranger cannot show a victim a genuine app's code from afar. "Local"
    # is Home Assistant's notion (homeassistant.util.network.is_local on the address its
    # forwarded middleware established from trusted proxies); Home Assistant Cloud is remote.
    mode = device_login_mode(entries)
    if mode is DeviceLoginMode.OFF:
        return DeviceRefusal.DEVICE_OFF
    if mode is DeviceLoginMode.LOCAL and (
        is_cloud_connection(request.app[KEY_HASS]) or not is_local_request(request)
    ):
        return DeviceRefusal.DEVICE_NOT_LOCAL
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
    if not is_frontend_client(request, client):
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
    return redirect(str(URL(WELCOME_PATH).with_query(request.query)))


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


def _binding_cookie_name(state: str) -> str:
    """Return the cookie name that binds one pending login to its browser."""
    return f"{BINDING_COOKIE}_{hashlib.sha256(state.encode()).hexdigest()[:16]}"


async def start_login(
    request: web.Request,
    entry: OIDCConfigEntry,
    client: LoginClient,
) -> web.Response:
    """Create the pending login and redirect the browser to the provider."""
    hass = request.app[KEY_HASS]
    domain = hass.data[DATA_DOMAIN]
    callback_url = _callback_url(request, entry)
    try:
        authorization = await entry.runtime_data.client.start_authorization(callback_url)
    except OIDCError as err:
        entry.runtime_data.health.record_failure(err.code)
        if err.code is ErrorCode.DISCOVERY_INSECURE_ENDPOINT:
            # The detail names the endpoint; the page tells the administrator how to allow it.
            raise LoginPageError(
                LoginPageReason.PROVIDER_INSECURE,
                detail=err.detail,
                status=HTTPStatus.SERVICE_UNAVAILABLE,
            ) from err
        raise LoginPageError(
            LoginPageReason.PROVIDER_UNAVAILABLE,
            detail=err.code,
            status=HTTPStatus.SERVICE_UNAVAILABLE,
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
    response = redirect(authorization.url)
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
    wait_query = {**login_query, **device_query(login.client)}
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
    device_notice: DeviceRefusal | None = None,
    status: HTTPStatus = HTTPStatus.OK,
) -> web.Response:
    """Render the welcome page, with the cross-device login when there is one."""
    hass = request.app[KEY_HASS]
    busy_for = hass.data[DATA_DOMAIN].device_logins.creation_blocked_for(request.remote)
    frontend = is_frontend_client(request, client)
    third_party = not frontend and not is_companion_app(client)
    return hass.data[DATA_DOMAIN].pages.render(
        hass,
        request,
        "welcome.html",
        status=status,
        allow_script=login is not None,
        providers=await _provider_choices(entries),
        client_fields=client_query(client),
        offer_store_token=frontend,
        store_token_checked=is_local_request(request),
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
            else f"{WELCOME_PATH}?{urlencode(device_query(client))}"
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
            response = redirect(end_session)
            forget_pending_logout(response)
            return response
        try:
            client = await parse_client_request(hass, request.query)
        except LoginPageError as err:
            return error_page(request, err)
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
        if is_frontend_client(request, client):
            # No "Keep me logged in" box on this path: its default applies (local network).
            client = replace(client, store_token=is_local_request(request))
        return await _start_device_login(request, client, entries)


async def _start_device_login(
    request: web.Request, client: ClientRequest, entries: list[OIDCConfigEntry]
) -> web.Response:
    """Show the waiting page of a new cross-device login, or the welcome page saying why not."""
    refusal = waiting_device_refusal(request, entries)
    # The Host header names the approval URL and its QR code: only a valid, short one.
    url = approval_url(request.scheme, request.host, DEVICE_PATH, force_https=forces_https(entries))
    if refusal is None and url is None:
        refusal = DeviceRefusal.DEVICE_BAD_HOST
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
        refusal = refusal or DeviceRefusal.DEVICE_BUSY
        # The app's own welcome page stays usable; an explicit request learns why not.
        explicit = not is_companion_app(client)
        notice = None if refusal is DeviceRefusal.DEVICE_OFF and not explicit else refusal
        status = DEVICE_REFUSAL_STATUS[refusal] if explicit else HTTPStatus.OK
        return await render_welcome(request, client, entries, device_notice=notice, status=status)
    login, cookie_value = created
    response = await render_welcome(request, client, entries, login)
    set_device_cookie(request, response, DEVICE_WAITING_COOKIE, login, cookie_value)
    return response


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
            return error_page(request, err, client)

    @staticmethod
    def _entry(request: web.Request, params: MultiDict[str]) -> OIDCConfigEntry:
        """Return the loaded provider the user picked."""
        if (
            entry := loaded_entry(request.app[KEY_HASS], required_param(params, "entry_id"))
        ) is None:
            raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail="unknown provider")
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
            return error_page(request, err, client)

    @staticmethod
    def _entry(request: web.Request) -> OIDCConfigEntry:
        """Return the provider whose test login the grant allows; the grant is spent."""
        hass = request.app[KEY_HASS]
        grants = hass.data[DATA_DOMAIN].inspection_grants
        entry_id = grants.redeem(required_param(request.query, "grant"))
        if entry_id is None or (entry := loaded_entry(hass, entry_id)) is None:
            raise LoginPageError(LoginPageReason.INSPECT_LINK_EXPIRED, status=HTTPStatus.FORBIDDEN)
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
            response = await hand_off(request, entry, pending.client, identity)
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
            if err.counted and err.reason not in UNCOUNTED_REASONS:
                await count_failed_login(request)
            return error_page(request, err, pending.client if pending else None)
        entry.runtime_data.health.record_outcome("success")
        return response

    @staticmethod
    def _entry(request: web.Request, pending: PendingLogin) -> OIDCConfigEntry:
        """Return the provider the login was started at, if it is still loaded."""
        if (entry := loaded_entry(request.app[KEY_HASS], pending.entry_id)) is None:
            raise LoginPageError(LoginPageReason.PROVIDER_UNAVAILABLE, detail="provider unloaded")
        return entry

    def _take_pending(self, request: web.Request) -> PendingLogin:
        """Consume the pending login named by `state`; it must come from the same browser."""
        hass = request.app[KEY_HASS]
        state = required_param(request.query, "state")
        store = hass.data[DATA_DOMAIN].pending_logins
        # RFC 6749 §10.12 / RFC 9700 §4.7: unknown, expired or replayed state is refused.
        pending = store.peek(state)
        if pending is None:
            # Not counted for the IP ban: nobody guesses a 256-bit state, and unknown states
            # are honest users' expired, evicted or already used logins (reload, back button).
            raise LoginPageError(
                LoginPageReason.LOGIN_EXPIRED, detail="unknown or used state", counted=False
            )
        # RFC 9700 §4.7.1: only the browser that started the login may finish (or spend) it.
        if not binding_matches(pending, request.cookies.get(_binding_cookie_name(state))):
            raise LoginPageError(LoginPageReason.LOGIN_EXPIRED, detail="started in another browser")
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
            if not err.provider_unavailable:
                # An outage is logged once by the health tracker, not per failed login.
                _LOGGER.warning("Login at %s failed: %s (%s)", entry.title, err.code, err)
            raise callback_failure(err) from err
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
                LoginPageReason.GROUPS_UNREADABLE if problem else LoginPageReason.NOT_ALLOWED,
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


def callback_failure(err: OIDCError) -> LoginPageError:
    """Return the page for a callback that the core refused, by the core's error code."""
    if err.code is ErrorCode.PROVIDER_ERROR:
        if err.provider_error == "access_denied":
            return LoginPageError(LoginPageReason.ACCESS_DENIED, detail=err.code)
        return LoginPageError(LoginPageReason.PROVIDER_ERROR, detail=err.code)
    if err.code is ErrorCode.TOKEN_REQUEST_FAILED and err.provider_error == "invalid_grant":
        # RFC 6749 §5.2: the provider refused the code itself: an injected, replayed or forged
        # code, not an outage.
        return LoginPageError(LoginPageReason.VERIFICATION_FAILED, detail=err.code)
    if err.code is ErrorCode.TOKEN_REQUEST_FAILED and not err.provider_unavailable:
        # RFC 6749 §5.2: the provider refuses our client (its credentials, grant or scope); the
        # administrator must act.
        return LoginPageError(
            LoginPageReason.CLIENT_REJECTED, detail=err.code, status=HTTPStatus.BAD_GATEWAY
        )
    if err.provider_unavailable:
        return LoginPageError(
            LoginPageReason.PROVIDER_UNAVAILABLE, detail=err.code, status=HTTPStatus.BAD_GATEWAY
        )
    return LoginPageError(LoginPageReason.VERIFICATION_FAILED, detail=err.code)


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
        raise LoginPageError(LoginPageReason.LOGIN_EXPIRED, detail="device login expired")
    return redirect(f"{DEVICE_CONFIRM_PATH}?{urlencode({'login': login.login_id})}")
