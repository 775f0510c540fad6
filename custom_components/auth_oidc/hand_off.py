"""Hand a verified single sign-on to Home Assistant: its own checks, then its authorization code.

Both ways of logging in end here: the browser's callback (browser_views.py) and the waiting
device's page once approved (device_views.py), each with its own request, so the client gets
exactly the checks and the code that Home Assistant's own login view would give it.
"""

import logging
from http import HTTPStatus
from ipaddress import ip_address
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from homeassistant.auth.models import AuthFlowContext, Credentials
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.http import KEY_HASS

from .audit import fire_audit_event
from .const import CONTEXT_IDENTITY, DOMAIN, EVENT_LOGIN
from .hass_auth import (
    UserRefusal,
    count_successful_login,
    store_auth_code,
    user_not_allowed_reason,
    verify_redirect_uri,
)
from .identity import Identity
from .login_clients import ClientRequest
from .login_page import LoginPageError, LoginPageReason, is_frontend_client, redirect
from .provider import async_apply_identity
from .runtime import OIDCConfigEntry

_LOGGER = logging.getLogger(__name__)

# Home Assistant's reasons to refuse a user → the page that explains each.
ACCOUNT_REFUSALS = {
    UserRefusal.INACTIVE: LoginPageReason.ACCOUNT_DISABLED,
    UserRefusal.LOCAL_ONLY: LoginPageReason.ACCOUNT_LOCAL_ONLY,
    UserRefusal.LOCAL_ONLY_CLOUD: LoginPageReason.ACCOUNT_LOCAL_ONLY_CLOUD,
    UserRefusal.UNKNOWN: LoginPageReason.ACCOUNT_NOT_ALLOWED,
}


async def hand_off(
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
        raise LoginPageError(
            LoginPageReason.VERIFICATION_FAILED, detail="login flow did not finish"
        )
    credentials: Credentials = result["result"]
    # Home Assistant's login view checks, repeated for our path (components/auth/login_flow.py).
    if not await verify_redirect_uri(
        hass,
        client.client_id,
        client.redirect_uri,
        allow_loopback_port_change=client.code_challenge is not None,
    ):
        raise LoginPageError(LoginPageReason.INVALID_REDIRECT_URI, status=HTTPStatus.FORBIDDEN)
    user = await hass.auth.async_get_user_by_credentials(credentials)
    if user is not None:
        if (refusal := user_not_allowed_reason(hass, user, request)) is not None:
            _LOGGER.info("Login of %s blocked: %s", user.name, refusal)
            raise LoginPageError(
                ACCOUNT_REFUSALS[refusal],
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
    if client.store_token and is_frontend_client(request, client):
        response_params["storeToken"] = "true"
    separator = "&" if urlsplit(client.redirect_uri).query else "?"
    if client.redirect_uri.endswith(("?", "&")):
        separator = ""
    return redirect(f"{client.redirect_uri}{separator}{urlencode(response_params)}")
