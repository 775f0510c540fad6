"""The one login driver of the integration tests: the real integration against FakeProvider."""

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from homeassistant.components.auth import DATA_STORE
from homeassistant.components.http.ban import KEY_FAILED_LOGIN_ATTEMPTS
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.storage import Store
from homeassistant.setup import async_setup_component
from markupsafe import escape
from multidict import MultiDict

from custom_components.auth_oidc.const import BINDING_COOKIE, DOMAIN
from custom_components.auth_oidc.oidc import OIDCClient
from custom_components.auth_oidc.pages import PAGE_TRANSLATION_DIR
from custom_components.auth_oidc.runtime import DATA_DOMAIN, OIDCConfigEntry
from tests.client_app import REGISTERED_REDIRECT_URI, ClientApp
from tests.fake_provider import DEFAULT_CLIENT_SECRET, FakeProvider

CLIENT_ID = "https://ha.example.com/"
REDIRECT_URI = "https://ha.example.com/?auth_callback=1"
CLIENT_STATE = "client-state-123"
VERIFIER = "client-verifier-" + "x" * 40
LOCAL_IP = ip_address("127.0.0.1")
# High enough never to ban during a test, but set, so Home Assistant counts failed logins.
BAN_THRESHOLD = 1000
ONBOARDING = {
    "version": 4,
    "minor_version": 1,
    "key": "onboarding",
    "data": {"done": ["user", "core_config", "analytics", "integration"]},
}


def registered_client_query(client: ClientApp, **extra: str) -> dict[str, str]:
    """Return the registering client's authorize request (its registered redirect_uri)."""
    return authorize_query(
        **{"client_id": client.client_id, "redirect_uri": REGISTERED_REDIRECT_URI, **extra}
    )


USER = {
    "sub": "5f0c1d2e-0000-4000-8000-000000000001",
    "name": "Alice Admin",
    "preferred_username": "alice",
    "email": "alice@example.com",
    "email_verified": True,
    "groups": ["admins", "users"],
}
_HREF = re.compile(r"""(?:href|action|src)="([^"]*)\"""")
type FloodSend = Callable[["Harness"], Awaitable[int]]
_STRINGS: dict[str, Any] = json.loads(
    (PAGE_TRANSLATION_DIR / "en.json").read_text(encoding="utf-8")
)


def binding_cookie_name(state: str) -> str:
    """Return the browser-binding cookie name of a pending login (as the product names it)."""
    return f"{BINDING_COOKIE}_{hashlib.sha256(state.encode()).hexdigest()[:16]}"


def challenge(verifier: str = VERIFIER) -> str:
    """Return the S256 code challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_query(**extra: str) -> dict[str, str]:
    """Return a valid authorize request of Home Assistant's web frontend."""
    return {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": CLIENT_STATE,
        "code_challenge": challenge(),
        "code_challenge_method": "S256",
        **extra,
    }


def reason_text(reason: str) -> str:
    """Return the English error sentence for a page reason, HTML-escaped as rendered."""
    return str(escape(_STRINGS["errors"][reason]))


def detail_text(detail: str) -> str:
    """Return the rendered technical detail line."""
    return str(escape(_STRINGS["details"].replace("{detail}", detail)))


def page_links(page: str) -> list[str]:
    """Return every href, action and src of a rendered page (unescaped)."""
    return [link.replace("&amp;", "&") for link in _HREF.findall(page)]


def is_same_origin_path(url: str) -> bool:
    """Tell whether a link stays on this Home Assistant (a path, never another origin)."""
    parts = urlsplit(url)
    return (
        url.startswith("/")
        and not url.startswith(("//", "/\\"))
        and "\\" not in url.split("?", 1)[0]
        and not parts.scheme
        and not parts.netloc
    )


@dataclass(frozen=True)
class SideEffects:
    """What a login can leave behind in Home Assistant."""

    users: frozenset[str]
    credentials: frozenset[str]
    refresh_tokens: frozenset[str]
    persons: frozenset[str]
    auth_codes: int
    pending_logins: int

    @property
    def durable(self) -> tuple[frozenset[str], ...]:
        """Return what outlives the login attempt: users, credentials, tokens, persons."""
        return (self.users, self.credentials, self.refresh_tokens, self.persons)


@dataclass
class Harness:
    """One Home Assistant with the integration, one browser and the fake provider."""

    hass: HomeAssistant
    client: TestClient[Any, Any]
    provider: FakeProvider
    issued_codes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def entry(self) -> OIDCConfigEntry:
        """Return our (only) config entry."""
        entry: OIDCConfigEntry = self.hass.config_entries.async_entries(DOMAIN)[0]
        return entry

    @property
    def entry_id(self) -> str:
        """Return our config entry id."""
        return self.entry.entry_id

    async def start(
        self,
        client: TestClient[Any, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: str,
    ) -> ClientResponse:
        """Post the welcome form: start a login (response not followed)."""
        return await (client or self.client).post(
            "/auth/oidc/redirect",
            data={**authorize_query(**extra), "entry_id": self.entry_id},
            headers=headers,
            allow_redirects=False,
        )

    async def start_at_provider(
        self,
        client: TestClient[Any, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: str,
    ) -> MultiDict[str]:
        """Start a login and let the provider answer; return the callback query."""
        response = await self.start(client, headers=headers, **extra)
        assert response.status == 302, await response.text()
        return await self.provider.authorize(response.headers["Location"])

    async def callback(
        self,
        query: Mapping[str, str] | MultiDict[str] | list[tuple[str, str]],
        client: TestClient[Any, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> ClientResponse:
        """Deliver a callback query to our callback endpoint (response not followed)."""
        items = query if isinstance(query, list) else list(query.items())
        return await (client or self.client).get(
            "/auth/oidc/callback?" + urlencode(items), headers=headers, allow_redirects=False
        )

    async def login(
        self,
        client: TestClient[Any, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: str,
    ) -> ClientResponse:
        """Drive start → provider → callback; return the callback response."""
        query = await self.start_at_provider(client, headers=headers, **extra)
        return await self.callback(query, client, headers=headers)

    async def login_ok(self, **extra: Any) -> dict[str, Any]:
        """Log in successfully and redeem the code; return Home Assistant's tokens."""
        response = await self.login(**extra)
        assert response.status == 302, await response.text()
        assert response.headers["Location"].startswith(REDIRECT_URI)
        return await self.redeem(response.headers["Location"])

    async def redeem(self, location: str) -> dict[str, Any]:
        """Redeem the code of a successful hand-off at Home Assistant's token endpoint."""
        query = parse_qs(urlsplit(location).query)
        response = await self.client.post(
            "/auth/token",
            data={
                "grant_type": "authorization_code",
                "client_id": CLIENT_ID,
                "code": query["code"][0],
                "code_verifier": VERIFIER,
            },
        )
        assert response.status == 200, await response.text()
        tokens: dict[str, Any] = await response.json()
        return tokens

    async def side_effects(self) -> SideEffects:
        """Return what logins have left behind so far."""
        users = await self.hass.auth.async_get_users()
        persons = self.hass.data["person"][1].async_items() if "person" in self.hass.data else []
        return SideEffects(
            users=frozenset(user.id for user in users),
            credentials=frozenset(
                credentials.id for user in users for credentials in user.credentials
            ),
            refresh_tokens=frozenset(token for user in users for token in user.refresh_tokens),
            persons=frozenset(person["id"] for person in persons),
            auth_codes=len(self.issued_codes),
            pending_logins=len(self.hass.data[DATA_DOMAIN].pending_logins),
        )

    def failed_login_attempts(self) -> int:
        """Return Home Assistant's failed-login counter (IP ban) for the test client."""
        return self.hass.http.app[KEY_FAILED_LOGIN_ATTEMPTS].get(LOCAL_IP, 0)

    def replace_client(self, **options: Any) -> OIDCClient:
        """Rebuild our OIDC client like setup does, with test timing (timeout, clocks)."""
        runtime = self.entry.runtime_data
        runtime.client = OIDCClient(
            async_get_clientsession(self.hass),
            runtime.client.discovery_url,
            runtime.client.settings,
            **options,
        )
        return runtime.client


async def local_user(hass: HomeAssistant, local_auth: Any, username: str, name: str) -> Any:
    """Create a Home Assistant user with a username/password login."""
    local_auth.data.add_auth(username, "local-password-123")
    credentials = await local_auth.async_get_or_create_credentials({"username": username})
    user = await hass.auth.async_create_user(name, group_ids=["system-admin"])
    await hass.auth.async_link_user(user, credentials)
    return user


def spy_auth_codes(hass: HomeAssistant, issued: list[tuple[str, str]]) -> None:
    """Record every authorization code handed to Home Assistant's code store."""
    store_result = hass.data[DATA_STORE]

    def recording(client_id: str, *args: Any, **kwargs: Any) -> str:
        code: str = store_result(client_id, *args, **kwargs)
        issued.append((client_id, code))
        return code

    hass.data[DATA_STORE] = recording


async def setup_harness(
    hass: HomeAssistant,
    client_factory: Callable[[], Awaitable[TestClient[Any, Any]]],
    provider: FakeProvider,
    *,
    http: Mapping[str, Any] | None = None,
    frontend: bool = False,
    **options: Any,
) -> Harness:
    """Set up the integration (`set_up_integration`) and return its driver; spy on codes."""
    await set_up_integration(hass, provider, http=http, frontend=frontend, **options)
    harness = Harness(hass=hass, client=await client_factory(), provider=provider)
    spy_auth_codes(hass, harness.issued_codes)
    return harness


async def set_up_integration(
    hass: HomeAssistant,
    provider: FakeProvider,
    *,
    http: Mapping[str, Any] | None = None,
    frontend: bool = False,
    **options: Any,
) -> None:
    """Set up http (IP ban counting on), auth, person and our integration for `provider`.

    The frontend (Home Assistant's login page at /auth/authorize) only when asked: it is slow.
    `client_secret=None` makes a public client.
    """
    http_config = {"login_attempts_threshold": BAN_THRESHOLD, **(http or {})}
    assert await async_setup_component(hass, "http", {"http": http_config})
    assert await async_setup_component(hass, "auth", {})
    if frontend:
        assert await async_setup_component(hass, "frontend", {})
    assert await async_setup_component(hass, "person", {})
    config = {
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "discovery_url": provider.discovery_url,
        "display_name": "Pocket ID",
        **options,
    }
    if config["client_secret"] is None:  # a public client
        del config["client_secret"]
    # The web frontend of these tests is served at this configured external URL.
    await hass.config.async_update(external_url="https://ha.example.com")
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: config})
    await hass.async_block_till_done()


def response_secrets(provider: FakeProvider) -> list[str]:
    """Return every secret a response must never contain: client secret and issued tokens."""
    secrets = [DEFAULT_CLIENT_SECRET, provider.client_secret]
    for body in provider.token_responses:
        secrets.extend(
            value
            for name in ("access_token", "id_token", "refresh_token")
            if isinstance(value := body.get(name), str)
        )
    return [secret for secret in secrets if len(secret) >= 8]


async def assert_error_page(
    response: ClientResponse,
    *,
    status: int,
    reason: str,
    detail: str | None = None,
    secrets: list[str] | None = None,
) -> str:
    """Assert a translated refusal page: status, reason, detail, no redirect, same-origin links."""
    page = await response.text()
    assert response.status == status, page
    assert "Location" not in response.headers
    assert reason_text(reason) in page, page
    if detail is not None:
        assert detail_text(detail) in page, page
    links = page_links(page)
    assert links, page
    assert all(is_same_origin_path(link) for link in links), links
    for secret in secrets or []:
        assert secret not in page
    return page


# -- unauthenticated flood (tests/test_flood.py, scripts/bench_flood.py) ----------------------


async def _status(response: aiohttp.ClientResponse) -> int:
    await response.read()
    return response.status


def flood_requests() -> list[tuple[str, FloodSend]]:
    """Return the unauthenticated requests of one flood round (name, sender)."""
    valid = authorize_query()

    async def authorize(h: Harness) -> int:
        return await _status(
            await h.client.get("/auth/authorize", params=valid, allow_redirects=False)
        )

    async def providers(h: Harness) -> int:
        return await _status(await h.client.get("/auth/providers"))

    async def welcome(h: Harness) -> int:
        return await _status(await h.client.get("/auth/oidc/welcome", params=valid))

    async def welcome_invalid(h: Harness) -> int:
        return await _status(
            await h.client.get("/auth/oidc/welcome", params={"client_id": secrets.token_hex(8)})
        )

    async def start(h: Harness) -> int:
        return await _status(await h.start())

    async def start_invalid(h: Harness) -> int:
        return await _status(
            await h.client.post("/auth/oidc/redirect", data={"entry_id": secrets.token_hex(8)})
        )

    async def callback(h: Harness) -> int:
        return await _status(
            await h.callback({"state": secrets.token_urlsafe(32), "code": secrets.token_hex(8)})
        )

    async def static(h: Harness) -> int:
        return await _status(await h.client.get("/auth/oidc/static/login.css"))

    async def device_wait(h: Harness) -> int:
        # A cross-device login: a code and a waiting-page cookie, a few per address.
        return await _status(
            await h.client.get("/auth/oidc/welcome", params={**valid, "device_login": "true"})
        )

    async def device_code(h: Harness) -> int:
        # A wrong code; wrong codes block the address for a while (400, then 429).
        return await _status(
            await h.client.post(
                "/auth/oidc/device", data={"code": "ABCD-EFGH", "entry_id": h.entry_id}
            )
        )

    return [
        ("authorize", authorize),
        ("providers", providers),
        ("welcome", welcome),
        ("welcome-invalid", welcome_invalid),
        ("start", start),
        ("start-invalid", start_invalid),
        ("callback", callback),
        ("static", static),
        ("device-wait", device_wait),
        ("device-code", device_code),
    ]


EXPECTED_FLOOD_STATUS: dict[str, frozenset[int]] = {
    "authorize": frozenset({302}),
    "providers": frozenset({200}),
    "welcome": frozenset({200}),
    "welcome-invalid": frozenset({400}),
    "start": frozenset({302}),
    "start-invalid": frozenset({400}),
    "callback": frozenset({400}),
    "static": frozenset({200}),
    # One address starts only a few cross-device logins, then waits (429).
    "device-wait": frozenset({200, 429}),
    "device-code": frozenset({400, 429}),
}


@contextmanager
def storage_writes() -> Iterator[list[str]]:
    """Record the key of every Home Assistant storage save requested meanwhile."""
    saved: list[str] = []
    save, delay_save = Store.async_save, Store.async_delay_save

    async def recording_save(store: Store[Any], data: Any) -> None:
        saved.append(store.key)
        await save(store, data)

    def recording_delay_save(store: Store[Any], data_func: Any, delay: float = 0) -> None:
        saved.append(store.key)
        delay_save(store, data_func, delay)

    with (
        patch.object(Store, "async_save", recording_save),
        patch.object(Store, "async_delay_save", recording_delay_save),
    ):
        yield saved
