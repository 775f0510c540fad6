"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): end the provider session too.

With `features.end_provider_session` on, logging out of Home Assistant also ends the user's
session at the provider, so that the next "Log in with ..." asks for the user again:

1. At each login the raw ID token is remembered on the server, per provider and user (the
   latest one; memory only, bounded). It is the `id_token_hint` of a later logout.
2. The frontend logs out by revoking its refresh token (POST /auth/revoke, or the older
   POST /auth/token with action=revoke). When that token belongs to a user of a provider with
   the option on, the revoke response sets a short-lived HttpOnly cookie naming a logout
   that waits on the server; the cookie holds a random id, nothing else.
3. The frontend then reloads and lands on the welcome page. With that cookie, the welcome
   page redirects the browser to the provider's `end_session_endpoint` with `id_token_hint`,
   `client_id` and `post_logout_redirect_uri` (/auth/oidc/logged-out, which leads back to
   the welcome page).

The ID token never reaches a page, a cookie or the frontend's storage: it travels only in
that one redirect to the provider, as RP-Initiated Logout 1.0 §2 requires. After a restart
the remembered ID tokens are gone: the redirect then carries no `id_token_hint`, and the
provider asks the user to confirm the logout (§2: the hint is recommended, not required).
"""

from http import HTTPStatus
from typing import Final

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from yarl import URL

from .audit import fire_audit_event
from .const import DOMAIN, EVENT_LOGOUT, LOGGED_OUT_PATH, REVOKE_PATH
from .hass_auth import Handler
from .oidc import OIDCError
from .runtime import DATA_DOMAIN, OIDCConfigEntry, loaded_entries, loaded_entry
from .sessions import PENDING_LOGOUT_SECONDS

PENDING_LOGOUT_COOKIE: Final = "auth_oidc_logout"
COOKIE_PATH: Final = "/auth/oidc"
FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")


def _our_session(
    hass: HomeAssistant, refresh_token: str
) -> tuple[OIDCConfigEntry, str, str] | None:
    """Return (entry, subject, user id) when one of our providers' logins made this token."""
    token = hass.auth.async_get_refresh_token_by_token(refresh_token)
    if token is None or token.credential is None:
        return None
    credential = token.credential
    if credential.auth_provider_type != DOMAIN:
        return None
    subject = credential.data.get("sub")
    if not isinstance(subject, str):
        return None
    for entry in loaded_entries(hass):
        if entry.runtime_data.provider.id == credential.auth_provider_id:
            return entry, subject, token.user.id
    return None


async def revoke_interceptor(request: web.Request, original: Handler) -> web.StreamResponse:
    """Let Home Assistant revoke the token; mark the browser for a provider logout if due."""
    hass = request.app[KEY_HASS]
    session: tuple[OIDCConfigEntry, str, str] | None = None
    if request.content_type in FORM_TYPES:
        try:
            form = await request.post()  # aiohttp keeps it for Home Assistant's view
        except ValueError:
            return await original(request)
        token = form.get("token")
        is_revoke = request.path == REVOKE_PATH or form.get("action") == "revoke"
        if is_revoke and isinstance(token, str) and token:
            session = _our_session(hass, token)
    response = await original(request)
    if session is None:
        return response
    entry, subject, user_id = session
    ends_provider_session = entry.runtime_data.settings.features.end_provider_session
    fire_audit_event(
        hass,
        EVENT_LOGOUT,
        user_id=user_id,
        provider=entry.title,
        remote=request.remote,
        provider_session_ended=ends_provider_session,
    )
    if ends_provider_session:
        # The provider's logout revokes the refresh token: a later re-check must not read that
        # as the user losing access and end their other sessions.
        if entry.runtime_data.access_recheck is not None:
            await entry.runtime_data.access_recheck.async_forget(subject)
        response.set_cookie(
            PENDING_LOGOUT_COOKIE,
            hass.data[DATA_DOMAIN].pending_logouts.add(entry.entry_id, subject),
            max_age=PENDING_LOGOUT_SECONDS,
            path=COOKIE_PATH,
            secure=request.secure,
            httponly=True,
            samesite="Lax",
        )
    return response


def _logged_out_url(request: web.Request, entry: OIDCConfigEntry) -> str:
    """Return our post-logout URL as the browser reaches Home Assistant (proxy-aware)."""
    url = request.url.with_path(LOGGED_OUT_PATH).with_query(None).with_fragment(None)
    if entry.runtime_data.settings.features.force_https:
        url = url.with_scheme("https").with_port(None if url.port in (80, 443) else url.port)
    return str(url)


async def provider_logout_location(request: web.Request) -> str | None:
    """Return the provider's end-session URL when this browser has a logout pending."""
    logout_id = request.cookies.get(PENDING_LOGOUT_COOKIE)
    if not logout_id:
        return None
    hass = request.app[KEY_HASS]
    pending = hass.data[DATA_DOMAIN].pending_logouts.take(logout_id)
    if pending is None:
        return None
    entry = loaded_entry(hass, pending.entry_id)
    if entry is None or not entry.runtime_data.settings.features.end_provider_session:
        return None
    try:
        metadata = await entry.runtime_data.client.metadata()
    except OIDCError:
        return None  # A provider that is down keeps only its own session; ours has ended.
    if metadata.end_session_endpoint is None:
        return None
    # RP-Initiated Logout 1.0 §2: id_token_hint (recommended), client_id, and a
    # post_logout_redirect_uri registered for this client.
    params = {
        "client_id": entry.runtime_data.settings.client_id,
        "post_logout_redirect_uri": _logged_out_url(request, entry),
    }
    if (hint := entry.runtime_data.id_token_hints.get(pending.subject)) is not None:
        params["id_token_hint"] = hint
    return str(URL(metadata.end_session_endpoint).update_query(params))


def forget_pending_logout(response: web.StreamResponse) -> None:
    """Delete the pending-logout cookie in `response`."""
    response.del_cookie(PENDING_LOGOUT_COOKIE, path=COOKIE_PATH)


class LoggedOutView(HomeAssistantView):
    """Where the provider sends the browser after its logout: on to the login choice."""

    url = LOGGED_OUT_PATH
    name = "auth_oidc:logged_out"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Redirect to Home Assistant, which shows the welcome page to a logged-out browser."""
        return web.Response(
            status=HTTPStatus.FOUND,
            headers={
                "Location": "/",
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )
