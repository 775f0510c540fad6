"""A third-party OAuth client's IndieAuth page, served for real on 127.0.0.1.

An IndieAuth client may send its users back to a redirect_uri on another origin than its
client_id, if the page at the client_id lists that URI as `<link rel="redirect_uri">`.
Home Assistant fetches the page to check; it accepts loopback client_ids, so the real fetch
runs against this page.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html import escape

from aiohttp import web
from homeassistant.components.auth.indieauth import fetch_redirect_uris

# Home Assistant's own fetch, kept before any test replaces it with a mock.
REAL_FETCH_REDIRECT_URIS = fetch_redirect_uris
REGISTERED_REDIRECT_URI = "https://app.example.org/oauth/callback"


@dataclass
class ClientApp:
    """The served client: its client_id, its registered redirect URIs, the page's fetches."""

    redirect_uris: list[str]
    client_id: str = ""
    fetches: int = 0


@asynccontextmanager
async def client_app_page(*redirect_uris: str) -> AsyncIterator[ClientApp]:
    """Serve a client_id page that registers `redirect_uris`; yield the client."""
    client = ClientApp(redirect_uris=list(redirect_uris))

    async def page(request: web.Request) -> web.Response:
        client.fetches += 1
        links = "".join(
            f'<link rel="redirect_uri" href="{escape(uri)}">' for uri in client.redirect_uris
        )
        return web.Response(
            text=f"<!doctype html><html><head>{links}</head><body>App</body></html>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    client.client_id = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        yield client
    finally:
        await runner.cleanup()
