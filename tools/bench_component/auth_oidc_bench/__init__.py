"""Probes for scripts/bench inside a real Home Assistant: handler and set-up timings.

Never installed by users: scripts/bench links it into its throw-away configuration.
`async_setup` (after auth_oidc's) wraps the handler of every /auth/oidc/ route with a timer,
and adds two loopback-only views:

GET  /api/auth_oidc_bench/timings   Handler seconds per path since the last call (then reset):
                                    wall clock under "<path>", the event loop thread's CPU
                                    under "<path> cpu".
POST /api/auth_oidc_bench/setup     Unload and set up the auth_oidc entry `repeat` times; return
                                    the seconds of each set-up, whole and of async_setup_entry.
"""

import importlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from ipaddress import ip_address
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.typing import ConfigType

DOMAIN = "auth_oidc_bench"
TIMED_PREFIX = "/auth/oidc/"

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _from_loopback(request: web.Request) -> bool:
    """Tell whether the request comes from this machine."""
    return ip_address(request.remote or "0.0.0.0").is_loopback  # noqa: S104


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Time the integration's handlers and offer the probes."""
    timings: defaultdict[str, list[float]] = defaultdict(list)

    def timed(path: str, handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            started, cpu_started = time.perf_counter(), time.thread_time()
            try:
                return await handler(request)
            finally:
                timings[path].append(time.perf_counter() - started)
                # CPU of the event loop's thread meanwhile: with one login at a time, ours.
                timings[f"{path} cpu"].append(time.thread_time() - cpu_started)

        return run

    # Home Assistant's application is frozen by now: wrap the routes' handlers instead (the
    # view with Home Assistant's per-view wrapper, inside all middlewares).
    for resource in hass.http.app.router.resources():
        path = resource.canonical
        if not path.startswith(TIMED_PREFIX):
            continue
        for route in resource:
            route._handler = timed(path, route.handler)
    hass.http.register_view(TimingsView(timings))
    hass.http.register_view(SetupTimingsView())
    return True


class TimingsView(HomeAssistantView):
    """Hand out and reset the handler timings."""

    url = "/api/auth_oidc_bench/timings"
    name = "api:auth_oidc_bench:timings"
    requires_auth = False

    def __init__(self, timings: defaultdict[str, list[float]]) -> None:
        """Serve these timings."""
        self._timings = timings

    async def get(self, request: web.Request) -> web.Response:
        """Return the timings recorded since the last call."""
        if not _from_loopback(request):
            return web.Response(status=HTTPStatus.FORBIDDEN)
        snapshot = {path: list(values) for path, values in self._timings.items()}
        self._timings.clear()
        return web.json_response(snapshot)


class SetupTimingsView(HomeAssistantView):
    """Set the auth_oidc config entry up again and again, timing each set-up."""

    url = "/api/auth_oidc_bench/setup"
    name = "api:auth_oidc_bench:setup"
    requires_auth = False

    async def post(self, request: web.Request) -> web.Response:
        """Unload and set up the entry `repeat` times."""
        if not _from_loopback(request):
            return web.Response(status=HTTPStatus.FORBIDDEN)
        hass = request.app[KEY_HASS]
        repeat = int(request.query.get("repeat", "20"))
        # The module Home Assistant loaded from the configuration's custom_components.
        integration = importlib.import_module("custom_components.auth_oidc")
        (entry,) = hass.config_entries.async_entries("auth_oidc")
        original: Callable[..., Awaitable[bool]] = getattr(integration, "async_setup_entry")  # noqa: B009
        own: list[float] = []

        async def timed_setup_entry(*args: Any) -> bool:
            started = time.perf_counter()
            try:
                return await original(*args)
            finally:
                own.append(time.perf_counter() - started)

        whole: list[float] = []
        setattr(integration, "async_setup_entry", timed_setup_entry)  # noqa: B010
        try:
            for _ in range(repeat):
                await hass.config_entries.async_unload(entry.entry_id)
                started = time.perf_counter()
                loaded = await hass.config_entries.async_setup(entry.entry_id)
                whole.append(time.perf_counter() - started)
                if not loaded:
                    return web.json_response({"error": "set-up failed"}, status=500)
        finally:
            setattr(integration, "async_setup_entry", original)  # noqa: B010
        return web.json_response({"entry_setup": whole, "async_setup_entry": own})
