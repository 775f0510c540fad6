"""Touch Home Assistant's undocumented internals; nothing else in the package may.

Each function here relies on something Home Assistant does not document for custom
integrations: its private auth state, and the helpers its own login view applies
(IndieAuth, the IP-ban counter, the user checks, trusted networks, onboarding).
tests/test_hass_auth.py pins every one of those assumptions, so that a Home Assistant
upgrade that changes them fails one clearly named test instead of logins.
tests/test_architecture.py keeps every other module off these internals.
"""

import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum, auto
from ipaddress import ip_address
from typing import Any, cast

from aiohttp import web
from homeassistant.auth import InvalidAuthError
from homeassistant.auth.auth_store import AuthStore
from homeassistant.auth.models import Credentials, User
from homeassistant.auth.providers import AuthProvider
from homeassistant.auth.providers.trusted_networks import TrustedNetworksAuthProvider
from homeassistant.components import onboarding
from homeassistant.components.auth import DATA_STORE, indieauth
from homeassistant.components.http.auth_util import async_user_not_allowed_do_auth
from homeassistant.components.http.ban import process_success_login, process_wrong_login
from homeassistant.core import HomeAssistant
from multidict import MultiDict, MultiDictProxy

_LOGGER = logging.getLogger(__name__)

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
type Interceptor = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

_INTERCEPTED_MARK = "_auth_oidc_intercepted"


def _provider_registry(hass: HomeAssistant) -> dict[tuple[str, str | None], AuthProvider]:
    """Return the auth manager's provider dict (private: AuthManager._providers)."""
    providers: dict[tuple[str, str | None], AuthProvider] = hass.auth._providers
    return providers


def auth_store(hass: HomeAssistant) -> AuthStore:
    """Return the auth store that every AuthProvider is built with (private: AuthManager._store)."""
    store: AuthStore = hass.auth._store
    return store


def register_provider(hass: HomeAssistant, provider: AuthProvider) -> None:
    """Add the provider after the configured ones, so Home Assistant's login stays the default."""
    _provider_registry(hass)[(provider.type, provider.id)] = provider


def unregister_provider(hass: HomeAssistant, provider: AuthProvider) -> None:
    """Remove the provider; its users and credentials stay stored."""
    registry = _provider_registry(hass)
    if registry.get((provider.type, provider.id)) is provider:
        del registry[(provider.type, provider.id)]


def store_auth_code(
    hass: HomeAssistant,
    client_id: str,
    credentials: Credentials,
    code_challenge: str | None,
    code_challenge_method: str | None,
) -> str:
    """Store credentials in the auth component's code store; return the client's code."""
    return hass.data[DATA_STORE](
        client_id,
        credentials,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
    )


def _chain(interceptor: Interceptor, original: Handler) -> Handler:
    """Return a handler that lets `interceptor` decide, with `original` as its fallback."""

    async def intercepted(request: web.Request) -> web.StreamResponse:
        return await interceptor(request, original)

    return intercepted


def intercept_get_route(hass: HomeAssistant, path: str, interceptor: Interceptor) -> bool:
    """Route GET `path` through `interceptor` (once); return whether the route exists."""
    return _intercept_route(hass, "GET", path, interceptor)


def intercept_post_route(hass: HomeAssistant, path: str, interceptor: Interceptor) -> bool:
    """Route POST `path` through `interceptor` (once); return whether the route exists."""
    return _intercept_route(hass, "POST", path, interceptor)


def _intercept_route(hass: HomeAssistant, method: str, path: str, interceptor: Interceptor) -> bool:
    """Route `method` `path` through `interceptor` (once); return whether the route exists."""
    for route in hass.http.app.router.routes():
        if route.method != method or route.resource is None:
            continue
        if route.resource.canonical != path:
            continue
        if getattr(route, _INTERCEPTED_MARK, False):
            return True
        route._handler = _chain(interceptor, route.handler)
        setattr(route, _INTERCEPTED_MARK, True)
        return True
    return False


def verify_client_id(client_id: str) -> bool:
    """Tell whether `client_id` is a valid IndieAuth client identifier, as Home Assistant checks."""
    return indieauth.verify_client_id(client_id)


async def verify_redirect_uri(
    hass: HomeAssistant, client_id: str, redirect_uri: str, *, allow_loopback_port_change: bool
) -> bool:
    """Tell whether Home Assistant's login would redirect this client to `redirect_uri`."""
    return await indieauth.verify_redirect_uri(
        hass, client_id, redirect_uri, allow_loopback_port_change=allow_loopback_port_change
    )


class _RequestWithoutQuery:
    """A request as the failed-login counter sees it: the same, but its URL has no query.

    Home Assistant logs the requested URL of every failed login; a callback's query holds
    the provider's code and state. A clone of the request is no option: aiohttp refuses to
    clone a request whose form body has been read.
    """

    def __init__(self, request: web.Request) -> None:
        """Wrap `request`, hiding its query."""
        self._request = request
        self.rel_url = request.rel_url.with_query(None).with_fragment(None)
        self.url = request.url.with_query(None).with_fragment(None)
        self.path_qs = str(self.rel_url)
        self.raw_path = self.rel_url.raw_path
        self.query: MultiDictProxy[str] = MultiDictProxy(MultiDict())
        self.query_string = ""

    def __getattr__(self, name: str) -> Any:
        """Answer everything else (app, remote, headers, ...) from the real request."""
        return getattr(self._request, name)


async def count_failed_login(request: web.Request) -> None:
    """Count a refused login towards Home Assistant's IP ban, logging no query parameter."""
    await process_wrong_login(cast(web.Request, _RequestWithoutQuery(request)))


def count_successful_login(request: web.Request) -> None:
    """Reset Home Assistant's failed-login counter of the request's address."""
    process_success_login(request)


class UserRefusal(StrEnum):
    """Why Home Assistant's own login refuses a user here."""

    INACTIVE = auto()
    LOCAL_ONLY = auto()
    LOCAL_ONLY_CLOUD = auto()
    UNKNOWN = auto()


# Home Assistant's reasons (components/http/auth_util.py, async_user_not_allowed_do_auth).
# A local-only user whose address cannot be checked is refused like one from the internet.
_USER_REFUSALS = {
    "User is not active": UserRefusal.INACTIVE,
    "User cannot authenticate remotely": UserRefusal.LOCAL_ONLY,
    "Invalid remote IP": UserRefusal.LOCAL_ONLY,
    "No request available to validate local access": UserRefusal.LOCAL_ONLY,
    "User is local only": UserRefusal.LOCAL_ONLY_CLOUD,
}


def user_not_allowed_reason(
    hass: HomeAssistant, user: User, request: web.Request
) -> UserRefusal | None:
    """Return why Home Assistant's login would refuse `user` here (inactive, local only), if so."""
    if (reason := async_user_not_allowed_do_auth(hass, user, request)) is None:
        return None
    if (refusal := _USER_REFUSALS.get(reason)) is None:
        # A reason of a newer Home Assistant still refuses the login, with a general message.
        _LOGGER.warning("Home Assistant refuses the login of %s: %s", user.name, reason)
        return UserRefusal.UNKNOWN
    return refusal


def trusted_network_applies(hass: HomeAssistant, request: web.Request) -> bool:
    """Tell whether a trusted_networks provider accepts this request's address."""
    try:
        address = ip_address(request.remote or "")
    except ValueError:
        return False
    for provider in hass.auth.get_auth_providers("trusted_networks"):
        if not isinstance(provider, TrustedNetworksAuthProvider):
            continue
        try:
            provider.async_validate_access(address)
        except InvalidAuthError:
            continue
        return True
    return False


def user_onboarded(hass: HomeAssistant) -> bool:
    """Tell whether onboarding has created Home Assistant's first user."""
    return onboarding.async_is_user_onboarded(hass)
