"""Serve the cross-device login's approval, confirmation and waiting-page endpoints.

The waiting page itself starts at GET /auth/oidc/welcome (browser_views.py).

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
                          through the same checks as a browser login (hand_off.py). Only with
                          its cookie.

Every failure renders a translated page (4xx, login_page.py), never a stack trace.
"""

import asyncio
import logging
import math
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.hdrs import ACCEPT
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util import dt as dt_util
from multidict import MultiMapping

from .browser_views import render_welcome, start_login
from .const import (
    DEVICE_APPROVED_EVENT,
    DEVICE_APPROVER_COOKIE,
    DEVICE_CONFIRM_PATH,
    DEVICE_EVENTS_PATH,
    DEVICE_PATH,
    DEVICE_QR_PATH,
    DEVICE_WAIT_PATH,
    DEVICE_WAITING_COOKIE,
)
from .device_login import (
    DeviceDescription,
    DeviceLogin,
    DeviceLoginStore,
    DeviceStatus,
    EntryOutcome,
    MaskedNetwork,
    format_code,
    normalize_code,
)
from .hand_off import hand_off
from .hass_auth import count_failed_login
from .login_clients import ClientRequest, DeviceApproval
from .login_page import (
    LoginPageError,
    LoginPageReason,
    device_cookie_name,
    error_page,
    parse_client_request,
    read_form,
    set_device_cookie,
)
from .login_state import source_key
from .pages import SECURITY_HEADERS, Translator, qr_svg
from .runtime import DATA_DOMAIN, loaded_entries, loaded_entry

_LOGGER = logging.getLogger(__name__)

# Errors on the approving side lead back to the code form (see login_page.error_page).
APPROVER = DeviceApproval(login_id="")
# Server-sent events: how often the store is checked, how long one stream lasts before the
# browser reconnects, a comment line now and then so that proxies keep the stream open.
EVENTS_CHECK_SECONDS = 0.5
EVENTS_STREAM_SECONDS = 25.0
EVENTS_KEEPALIVE_SECONDS = 10.0
EVENTS_RETRY_MS = 2000
OPEN_STATUSES = frozenset({"waiting", "entered"})
GONE = "gone"  # expired, used, or asked for without the waiting page's cookie
# The QR code is an image of its own: an SVG with no script, styled by attributes only.
QR_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Content-Type": "image/svg+xml",
}


def _store(request: web.Request) -> DeviceLoginStore:
    """Return the cross-device login store."""
    store: DeviceLoginStore = request.app[KEY_HASS].data[DATA_DOMAIN].device_logins
    return store


def _login_id(params: MultiMapping[str]) -> str:
    """Return the `login` parameter (bounded), or an empty string."""
    value = params.get("login", "")
    return value if isinstance(value, str) and len(value) <= 64 else ""


def _waiting_login(request: web.Request) -> DeviceLogin | None:
    """Return the cross-device login of this waiting page, only with its cookie."""
    login_id = _login_id(request.query)
    cookie = request.cookies.get(device_cookie_name(DEVICE_WAITING_COOKIE, login_id))
    return _store(request).for_waiting_page(login_id, cookie)


def _approver_login(request: web.Request, login_id: str) -> DeviceLogin | None:
    """Return the cross-device login this browser entered the code of, only with its cookie."""
    cookie = request.cookies.get(device_cookie_name(DEVICE_APPROVER_COOKIE, login_id))
    return _store(request).for_approver(login_id, cookie)


def device_label(t: Translator, device: DeviceDescription) -> str:
    """Return how the waiting device is named to the approver."""
    if device.kind == "browser" and device.browser and device.platform:
        return t("device_browser_on", browser=device.browser, platform=device.platform)
    kind = t(f"device_kinds.{device.kind}")
    return f"{kind} ({device.platform})" if device.platform else kind


def network_label(t: Translator, network: MaskedNetwork | None) -> str:
    """Return an approximate network for display."""
    if network is None:
        return t("network_unknown")
    return t("network_local", network=network.cidr) if network.local else network.cidr


def _started_label(t: Translator, store: DeviceLoginStore, login: DeviceLogin) -> str:
    """Return when the waiting device asked, in Home Assistant's time zone and relative."""
    local = dt_util.as_local(dt_util.utc_from_timestamp(login.created_at))
    minutes = int((store.now() - login.created) // 60)
    time = local.strftime("%H:%M")
    if minutes < 1:
        return t("confirm_started_just_now", time=time)
    return t("confirm_started_ago", time=time, minutes=str(minutes))


def _render(
    request: web.Request,
    template: str,
    *,
    status: HTTPStatus = HTTPStatus.OK,
    **context: Any,
) -> web.Response:
    """Render one of the cross-device pages."""
    hass = request.app[KEY_HASS]
    return hass.data[DATA_DOMAIN].pages.render(hass, request, template, status=status, **context)


class DeviceApproveView(HomeAssistantView):
    """Enter the code of a waiting device and log in at the provider to approve it."""

    url = DEVICE_PATH
    name = "auth_oidc:device"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Show the code form; `?code=` (from the QR code) only fills it in."""
        code = normalize_code(request.query.get("code", ""))
        return self._form(request, code=format_code(code) if code else "")

    async def post(self, request: web.Request) -> web.Response:
        """Claim the code for this browser and send it to the provider."""
        hass = request.app[KEY_HASS]
        store = _store(request)
        try:
            form = await read_form(request)
        except LoginPageError as err:
            return error_page(request, err, APPROVER)
        text = form.get("code", "")
        entry = loaded_entry(hass, form.get("entry_id", ""))
        if entry is None:
            return error_page(
                request,
                LoginPageError(LoginPageReason.INVALID_REQUEST, detail="unknown provider"),
                APPROVER,
            )
        source = source_key(request.remote)

        def approver_cookie(login_id: str) -> str | None:
            return request.cookies.get(device_cookie_name(DEVICE_APPROVER_COOKIE, login_id))

        outcome, login, cookie_value = store.enter_code(text, source, approver_cookie)
        if outcome is EntryOutcome.INVALID:
            # Wrong codes count towards Home Assistant's IP ban, like wrong passwords.
            await count_failed_login(request)
        if login is None:
            return self._form(request, code=text[:32], outcome=outcome)
        try:
            response = await start_login(request, entry, DeviceApproval(login.login_id))
        except LoginPageError as err:
            return error_page(request, err, APPROVER)
        if cookie_value is not None:
            set_device_cookie(request, response, DEVICE_APPROVER_COOKIE, login, cookie_value)
        return response

    @staticmethod
    def _form(
        request: web.Request, *, code: str, outcome: EntryOutcome | None = None
    ) -> web.Response:
        """Render the code form, with an error when the last try failed or this IP is blocked."""
        hass = request.app[KEY_HASS]
        entries = loaded_entries(hass)
        if not entries:
            return error_page(
                request,
                LoginPageError(
                    LoginPageReason.PROVIDER_UNAVAILABLE, status=HTTPStatus.SERVICE_UNAVAILABLE
                ),
                APPROVER,
            )
        blocked_for = _store(request).limiter.blocked_for(source_key(request.remote))
        status = HTTPStatus.OK if outcome is None else HTTPStatus.BAD_REQUEST
        error = outcome.value if outcome is not None else None
        if blocked_for > 0:
            status, error = HTTPStatus.TOO_MANY_REQUESTS, EntryOutcome.BLOCKED.value
        return _render(
            request,
            "device_approve.html",
            status=status,
            code=code,
            error=error,
            blocked_minutes=str(max(1, math.ceil(blocked_for / 60))),
            providers=[
                {"entry_id": entry.entry_id, "name": entry.runtime_data.settings.display_name}
                for entry in entries
            ],
            action=DEVICE_PATH,
        )


class DeviceConfirmView(HomeAssistantView):
    """Show what is being approved and let the approver approve or deny it."""

    url = DEVICE_CONFIRM_PATH
    name = "auth_oidc:device:confirm"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Show the waiting device's details, or the decision already taken."""
        login = _approver_login(request, _login_id(request.query))
        if login is None:
            return error_page(
                request,
                LoginPageError(LoginPageReason.LOGIN_EXPIRED, detail="device login expired"),
                APPROVER,
            )
        if login.status in (DeviceStatus.APPROVED, DeviceStatus.DENIED):
            return self._done(request, login)
        return self._confirm_page(request, login)

    async def post(self, request: web.Request) -> web.Response:
        """Take the approver's explicit decision; nothing is issued to this browser."""
        try:
            form = await read_form(request)
        except LoginPageError as err:
            return error_page(request, err, APPROVER)
        login = _approver_login(request, _login_id(form))
        if login is None or login.status is not DeviceStatus.VERIFIED:
            return error_page(
                request,
                LoginPageError(LoginPageReason.LOGIN_EXPIRED, detail="device login expired"),
                APPROVER,
            )
        decision = form.get("decision")
        approve = decision == "approve"
        if approve and form.get("confirmed") != "yes":
            # RFC 8628 §5.4 (remote phishing): the code alone never suffices; the approver has
            # seen device, time and network and states that they started this sign-in.
            return self._confirm_page(request, login, error=True)
        if decision not in ("approve", "deny") or not _store(request).decide(
            login, form.get("token", ""), approve=approve
        ):
            return error_page(
                request,
                LoginPageError(LoginPageReason.INVALID_REQUEST, detail="confirmation"),
                APPROVER,
            )
        _LOGGER.info(
            "Cross-device sign-in on a %s: %s by %s",
            login.device.kind,
            login.status.value,
            login.identity.display_name if login.identity else "?",
        )
        if approve:
            _announce_approval(request.app[KEY_HASS], login)
        return self._done(request, login)

    @staticmethod
    def _confirm_page(
        request: web.Request, login: DeviceLogin, *, error: bool = False
    ) -> web.Response:
        """Render the confirmation page of a verified login."""
        hass = request.app[KEY_HASS]
        if login.status is not DeviceStatus.VERIFIED or login.identity is None:
            return error_page(
                request,
                LoginPageError(LoginPageReason.LOGIN_EXPIRED, detail="not logged in"),
                APPROVER,
            )
        t = hass.data[DATA_DOMAIN].pages.translator(hass, request)
        identity = login.identity
        account = identity.display_name
        if identity.username and identity.username != identity.display_name:
            account = f"{identity.display_name} ({identity.username})"
        return _render(
            request,
            "device_confirm.html",
            status=HTTPStatus.BAD_REQUEST if error else HTTPStatus.OK,
            error=error,
            device=device_label(t, login.device),
            started=_started_label(t, _store(request), login),
            network=network_label(t, login.network),
            approver_network=network_label(t, login.approver_network),
            # RFC 8628 §5.4: a remote phisher's device is, almost always, somewhere else.
            different_networks=login.different_networks,
            client=login.client.client_id,
            code=login.display_code,
            account=account,
            login_id=login.login_id,
            token=login.confirm_token,
            action=DEVICE_CONFIRM_PATH,
        )

    @staticmethod
    def _done(request: web.Request, login: DeviceLogin) -> web.Response:
        """Render the approved or denied page."""
        hass = request.app[KEY_HASS]
        t = hass.data[DATA_DOMAIN].pages.translator(hass, request)
        return _render(
            request,
            "device_done.html",
            approved=login.status is DeviceStatus.APPROVED,
            device=device_label(t, login.device),
        )


class DeviceWaitView(HomeAssistantView):
    """The waiting page: shows the code until approved, then hands the code to the client."""

    url = DEVICE_WAIT_PATH
    name = "auth_oidc:device:wait"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Show the waiting page, or finish the login once it was approved or denied."""
        hass = request.app[KEY_HASS]
        login = _waiting_login(request)
        if login is None:
            # Unknown, expired, or another browser: nothing about the login is revealed.
            return error_page(
                request,
                LoginPageError(LoginPageReason.LOGIN_EXPIRED, detail="device login expired"),
                await self._retry_client(request),
            )
        if login.status in (DeviceStatus.APPROVED, DeviceStatus.DENIED):
            # Single use: whatever happens next, this login is over.
            _store(request).finish(login)
            if login.status is DeviceStatus.DENIED:
                return error_page(
                    request,
                    LoginPageError(LoginPageReason.DEVICE_DENIED, status=HTTPStatus.FORBIDDEN),
                    login.client,
                )
            return await self._hand_off(request, login)
        entries = loaded_entries(hass)
        if not entries:
            return error_page(
                request,
                LoginPageError(
                    LoginPageReason.PROVIDER_UNAVAILABLE, status=HTTPStatus.SERVICE_UNAVAILABLE
                ),
                login.client,
            )
        return await render_welcome(request, login.client, entries, login)

    @staticmethod
    async def _hand_off(request: web.Request, login: DeviceLogin) -> web.Response:
        """Issue the authorization code to this (waiting) page's client, after HA's checks."""
        entry = loaded_entry(request.app[KEY_HASS], login.entry_id or "")
        if entry is None or login.identity is None:
            return error_page(
                request,
                LoginPageError(LoginPageReason.PROVIDER_UNAVAILABLE, detail="provider unloaded"),
                login.client,
            )
        try:
            # The same hand-off as a browser login, with this request: its IP, its client.
            return await hand_off(request, entry, login.client, login.identity)
        except LoginPageError as err:
            return error_page(request, err, login.client)

    @staticmethod
    async def _retry_client(request: web.Request) -> ClientRequest | None:
        """Return the client request carried in the URL, to offer a new code; else None."""
        try:
            return await parse_client_request(request.app[KEY_HASS], request.query)
        except LoginPageError:
            return None


class DeviceEventsView(HomeAssistantView):
    """The waiting page's status, as server-sent events or as JSON for polling."""

    url = DEVICE_EVENTS_PATH
    name = "auth_oidc:device:events"
    requires_auth = False

    async def get(self, request: web.Request) -> web.StreamResponse:
        """Report waiting, entered, approved, denied or gone; 404 without the page's cookie."""
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        login = _waiting_login(request)
        if "text/event-stream" not in request.headers.get(ACCEPT, ""):
            if login is None:
                return web.json_response({"status": GONE}, status=404, headers=headers)
            return web.json_response({"status": login.public_status}, headers=headers)
        if login is None:
            # A refused stream makes EventSource give up; the script then polls and reloads.
            return web.Response(status=HTTPStatus.NOT_FOUND, headers=headers)
        store = _store(request)
        if not store.open_stream(login):
            # Too many open streams (for this page, or in all): the script polls instead.
            return web.Response(
                status=HTTPStatus.TOO_MANY_REQUESTS,
                text="Too many open event streams; poll this URL for JSON instead.",
                headers={**headers, "Retry-After": str(EVENTS_RETRY_MS // 1000)},
            )
        try:
            return await self._stream(request, headers)
        finally:
            store.close_stream(login)

    @staticmethod
    async def _stream(request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        """Send the status whenever it changes until it is final or the stream is old."""
        hass = request.app[KEY_HASS]
        loop = asyncio.get_running_loop()
        response = web.StreamResponse(
            headers={
                **headers,
                "Content-Type": "text/event-stream",
                "X-Accel-Buffering": "no",  # no proxy buffering (nginx)
            }
        )
        await response.prepare(request)
        deadline = loop.time() + EVENTS_STREAM_SECONDS
        sent: str | None = None
        last_write = loop.time()
        try:
            await response.write(f"retry: {EVENTS_RETRY_MS}\n\n".encode())
            while True:
                login = _waiting_login(request)
                status = GONE if login is None else login.public_status
                if status != sent:
                    # WHATWG HTML §9.2 (server-sent events): named event, one data line.
                    await response.write(f"event: status\ndata: {status}\n\n".encode())
                    sent, last_write = status, loop.time()
                if status not in OPEN_STATUSES or loop.time() >= deadline or hass.is_stopping:
                    break
                if loop.time() - last_write >= EVENTS_KEEPALIVE_SECONDS:
                    await response.write(b": keepalive\n\n")
                    last_write = loop.time()
                await asyncio.sleep(EVENTS_CHECK_SECONDS)
        except ConnectionResetError:
            pass  # the page went away
        return response


class DeviceQRView(HomeAssistantView):
    """The waiting page's QR code of the approval URL with the code filled in."""

    url = DEVICE_QR_PATH
    name = "auth_oidc:device:qr"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Return the QR code, rendered once per login; 404 without the page's cookie."""
        login = _waiting_login(request)
        if login is None:
            return web.Response(status=HTTPStatus.NOT_FOUND, headers=SECURITY_HEADERS)
        if login.qr_code is None:
            login.qr_code = qr_svg(login.prefilled_url)
        return web.Response(body=login.qr_code, headers=QR_HEADERS)


def _announce_approval(hass: HomeAssistant, login: DeviceLogin) -> None:
    """Tell the owner of every approval: a persistent notification and an event, no secrets."""
    # RFC 8628 §5.4: an approval the user did not expect must not go unnoticed.
    identity = login.identity
    if identity is None:
        return
    t = hass.data[DATA_DOMAIN].pages.language_translator(hass.config.language)
    approved_at = dt_util.now()
    network = network_label(t, login.network)
    approver_network = network_label(t, login.approver_network)
    entry = loaded_entry(hass, login.entry_id or "")
    hass.bus.async_fire(
        DEVICE_APPROVED_EVENT,
        {
            "provider": entry.title if entry else None,
            "account": identity.display_name,
            "username": identity.username,
            "device": device_label(t, login.device),
            "client_id": login.client.client_id,
            "network": login.network.cidr if login.network else None,
            "local": login.network.local if login.network else None,
            "approver_network": (login.approver_network.cidr if login.approver_network else None),
            "different_networks": login.different_networks,
            "time": approved_at.isoformat(),
        },
    )
    persistent_notification.async_create(
        hass,
        t(
            "notification_message",
            account=identity.display_name,
            device=device_label(t, login.device),
            client=login.client.client_id,
            time=approved_at.strftime("%Y-%m-%d %H:%M"),
            network=network,
            approver_network=approver_network,
        ),
        title=t("notification_title"),
        notification_id=f"auth_oidc_device_{login.login_id}",
    )
