"""Touch Home Assistant's private auth internals; nothing else in the package may.

Each function here relies on something Home Assistant does not document for custom
integrations. tests/test_hass_auth.py pins every one of those assumptions, so that a
Home Assistant upgrade that changes them fails one clearly named test instead of logins.
"""

from collections.abc import Awaitable, Callable

from aiohttp import web
from homeassistant.auth.auth_store import AuthStore
from homeassistant.auth.models import Credentials
from homeassistant.auth.providers import AuthProvider
from homeassistant.components.auth import DATA_STORE
from homeassistant.components.http.ban import process_wrong_login
from homeassistant.core import HomeAssistant

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
    for route in hass.http.app.router.routes():
        if route.method != "GET" or route.resource is None:
            continue
        if route.resource.canonical != path:
            continue
        if getattr(route, _INTERCEPTED_MARK, False):
            return True
        route._handler = _chain(interceptor, route.handler)
        setattr(route, _INTERCEPTED_MARK, True)
        return True
    return False


async def count_failed_login(request: web.Request) -> None:
    """Count a failed login towards Home Assistant's IP ban, without the request's query."""
    # Home Assistant logs the requested URL of a failed login (home-assistant.log): a
    # callback's query holds the provider's code and state, which must never be logged.
    # Only GET requests carry anything in the query (a form post's fields are in its body,
    # and aiohttp cannot clone a request whose body was read). The clone gets the remote
    # address explicitly: it would otherwise re-read the socket's peer, not the client
    # address that Home Assistant's forwarded middleware established.
    if request.method == "GET" and request.rel_url.query_string and request.remote:
        request = request.clone(rel_url=request.rel_url.with_query(None), remote=request.remote)
    await process_wrong_login(request)
