"""Pin every assumption hass_auth.py makes about Home Assistant's private auth internals."""

from aiohttp import web
from homeassistant.auth.models import Credentials
from homeassistant.auth.providers import AuthProvider
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.auth_oidc import hass_auth


class DummyProvider(AuthProvider):
    """A minimal provider to register."""


async def test_provider_registry_is_an_ordered_dict_keyed_by_type_and_id(
    hass: HomeAssistant,
) -> None:
    provider = DummyProvider(hass, hass_auth.auth_store(hass), {"type": "dummy", "id": "one"})
    before = [p.type for p in hass.auth.auth_providers]
    hass_auth.register_provider(hass, provider)
    # Appended after the configured providers: Home Assistant's own login stays the default.
    assert [p.type for p in hass.auth.auth_providers] == [*before, "dummy"]
    assert hass.auth.get_auth_provider("dummy", "one") is provider
    hass_auth.unregister_provider(hass, provider)
    assert hass.auth.get_auth_provider("dummy", "one") is None
    hass_auth.unregister_provider(hass, provider)  # idempotent


async def test_auth_store_is_the_auth_managers(hass: HomeAssistant) -> None:
    provider = DummyProvider(hass, hass_auth.auth_store(hass), {"type": "dummy", "id": "two"})
    hass_auth.register_provider(hass, provider)
    credentials = provider.async_create_credentials({"sub": "s"})
    user = await hass.auth.async_create_user("Stored")
    await hass.auth.async_link_user(user, credentials)
    assert await provider.async_credentials() == [credentials]
    assert await hass.auth.async_get_user_by_credentials(credentials) == user


async def test_stored_auth_code_is_redeemed_by_the_token_endpoint(
    hass: HomeAssistant, hass_client_no_auth
) -> None:
    assert await async_setup_component(hass, "auth", {})
    provider = DummyProvider(hass, hass_auth.auth_store(hass), {"type": "dummy", "id": "three"})
    hass_auth.register_provider(hass, provider)
    credentials: Credentials = provider.async_create_credentials({"sub": "pin"})
    user = await hass.auth.async_create_user("Pinned")
    await hass.auth.async_link_user(user, credentials)
    verifier = "v" * 43
    challenge = "7w_YNF9DSfIdPf_pRjSq646_kPr-2-o9NAl16JGghdM"  # S256 of "v" * 43
    code = hass_auth.store_auth_code(hass, "https://example.com/", credentials, challenge, "S256")
    client = await hass_client_no_auth()
    response = await client.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "https://example.com/",
            "code": code,
            "code_verifier": verifier,
        },
    )
    assert response.status == 200, await response.text()
    tokens = await response.json()
    refresh_token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert refresh_token is not None
    assert refresh_token.user.id == user.id


async def test_authorize_page_can_be_intercepted_once(
    hass: HomeAssistant, hass_client_no_auth
) -> None:
    assert await async_setup_component(hass, "frontend", {})
    calls: list[str] = []

    async def interceptor(request: web.Request, original: hass_auth.Handler) -> web.StreamResponse:
        calls.append(request.query.get("mark", ""))
        if request.query.get("mark") == "pass":
            return await original(request)
        return web.Response(text="intercepted")

    assert hass_auth.intercept_get_route(hass, "/auth/authorize", interceptor)
    assert hass_auth.intercept_get_route(
        hass, "/auth/authorize", interceptor
    )  # second call: no double wrap
    client = await hass_client_no_auth()
    response = await client.get("/auth/authorize?mark=stop")
    assert await response.text() == "intercepted"
    response = await client.get("/auth/authorize?mark=pass")
    assert response.status == 200
    assert "<html" in (await response.text()).lower()
    assert calls == ["stop", "pass"]


async def test_no_authorize_page_without_frontend(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "http", {})

    async def interceptor(request: web.Request, original: hass_auth.Handler) -> web.StreamResponse:
        raise AssertionError("never called")

    assert not hass_auth.intercept_get_route(hass, "/auth/authorize", interceptor)
