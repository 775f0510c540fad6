"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0) from the provider.

POST /auth/oidc/backchannel-logout   The provider posts `logout_token` (form-encoded) when a
                          user's session there ends. The token is verified (signature with the
                          provider's keys, iss, aud, iat, jti not seen before, the logout event,
                          sub and/or sid, no nonce, typ when present), then the Home Assistant
                          refresh tokens of exactly that session are removed (by `sid` when the
                          hand-off was remembered, else all of that user's sessions from this
                          provider). 200 on success, 400 with a JSON error otherwise (§2.8);
                          never cached.
"""

import base64
import binascii
import json
import logging
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView

from .const import BACKCHANNEL_LOGOUT_PATH, EVENT_REVOKED
from .oidc import LogoutToken, OIDCError
from .runtime import OIDCConfigEntry, loaded_entries
from .sessions import async_end_sessions

_LOGGER = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 64 * 1024
NO_STORE: Final = {"Cache-Control": "no-store"}


class LogoutRefusedError(Exception):
    """A logout request that must be answered with 400 and this description."""


class BackchannelLogoutView(HomeAssistantView):
    """Receive logout tokens from the provider."""

    url = BACKCHANNEL_LOGOUT_PATH
    name = "auth_oidc:backchannel_logout"
    requires_auth = False

    async def post(self, request: web.Request) -> web.Response:
        """Verify the logout token and end the sessions it names."""
        try:
            raw = await _logout_token_param(request)
            entry = _entry_for(request, raw)
            await _async_end(request, entry, await _verified(entry, raw))
        except LogoutRefusedError as err:
            _LOGGER.info("Back-channel logout refused: %s", err)
            return web.json_response(
                {"error": "invalid_request", "error_description": str(err)},
                status=HTTPStatus.BAD_REQUEST,
                headers=NO_STORE,
            )
        return web.Response(status=HTTPStatus.OK, headers=NO_STORE)


async def _verified(entry: OIDCConfigEntry, raw: str) -> LogoutToken:
    """Verify the logout token with the provider's keys; refuse one seen before."""
    try:
        logout = await entry.runtime_data.client.verify_logout_token(raw)
    except OIDCError as err:
        raise LogoutRefusedError(err.detail or err.code) from err
    # Back-Channel Logout 1.0 §2.6 step 7: a logout token is used once.
    if not entry.runtime_data.seen_logout_tokens.first_time(logout.jti):
        raise LogoutRefusedError("logout token replayed")
    return logout


async def _logout_token_param(request: web.Request) -> str:
    """Return the single `logout_token` of a form-encoded body (§2.5)."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise LogoutRefusedError("expected application/x-www-form-urlencoded")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise LogoutRefusedError("request too large")
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise LogoutRefusedError("request too large")
    try:
        fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as err:
        raise LogoutRefusedError("malformed form body") from err
    values = [value for name, value in fields if name == "logout_token"]
    if len(values) != 1 or not values[0]:
        raise LogoutRefusedError("exactly one logout_token is required")
    return values[0]


def _entry_for(request: web.Request, raw: str) -> OIDCConfigEntry:
    """Return the loaded provider whose issuer the (not yet verified) token names."""
    issuer = _unverified_issuer(raw)
    for entry in loaded_entries(request.app[KEY_HASS]):
        if entry.runtime_data.provider.issuer.rstrip("/") == issuer.rstrip("/"):
            return entry
    raise LogoutRefusedError("unknown issuer")


def _unverified_issuer(raw: str) -> str:
    """Read `iss` to pick the provider whose keys will verify the token (nothing trusted yet)."""
    parts = raw.split(".")
    if len(parts) != 3:
        raise LogoutRefusedError("not a compact JWS")
    try:
        payload: Any = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError) as err:
        raise LogoutRefusedError("malformed token") from err
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(issuer, str):
        raise LogoutRefusedError("no issuer")
    return issuer


async def _async_end(request: web.Request, entry: OIDCConfigEntry, logout: LogoutToken) -> None:
    """End the sessions a verified logout token names and announce it."""
    hass = request.app[KEY_HASS]
    runtime = entry.runtime_data
    provider = runtime.provider
    hand_offs = runtime.sessions.hand_offs(logout.session_id) if logout.session_id else []
    if logout.subject is not None:
        subjects = {logout.subject}
    else:
        # A sid alone: the users whose hand-offs carried it.
        subjects = set()
        for item in hand_offs:
            for credentials in await provider.async_credentials():
                if credentials.id == item.credentials_id:
                    subjects.add(str(credentials.data["sub"]))
    for subject in subjects:
        if (own := await provider.async_credentials_for(subject)) is None:
            continue
        user_id, ended = await async_end_sessions(
            hass, own, hand_offs or None, runtime.sessions.hand_offs()
        )
        if user_id is None:
            continue
        _LOGGER.info(
            "Back-channel logout from %s ended %d session(s) of user %s",
            entry.title,
            ended,
            user_id,
        )
        hass.bus.async_fire(
            EVENT_REVOKED,
            {
                "user_id": user_id,
                "provider": entry.title,
                "issuer": provider.issuer,
                "reason": "backchannel_logout",
                "sessions": ended,
            },
        )
