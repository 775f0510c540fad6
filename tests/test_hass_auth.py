"""Pin every assumption hass_auth.py makes about Home Assistant's undocumented internals."""

import logging
from ipaddress import ip_address
from typing import Any
from unittest.mock import Mock, patch

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from homeassistant.auth.models import Credentials
from homeassistant.auth.providers import AuthProvider
from homeassistant.components import persistent_notification
from homeassistant.components.http.ban import (
    KEY_BAN_MANAGER,
    KEY_FAILED_LOGIN_ATTEMPTS,
    process_wrong_login,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import register_auth_provider

from custom_components.auth_oidc import hass_auth
from custom_components.auth_oidc.hass_auth import UserRefusal
from tests.client_app import REGISTERED_REDIRECT_URI, client_app_page


def peer(address: str) -> Mock:
    """Return a transport whose peer is `address` (a request's remote)."""
    transport = Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (address, 50000) if name == "peername" else default
    )
    return transport


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


@pytest.mark.parametrize(
    ("path", "form"),
    [("/auth/revoke", {}), ("/auth/token", {"action": "revoke"})],
    ids=["auth_revoke", "auth_token_action"],
)
async def test_token_revocation_can_be_intercepted_once(
    hass: HomeAssistant, hass_client_no_auth, path: str, form: dict[str, str]
) -> None:
    """The frontend logs out by revoking its refresh token with a form POST to these routes."""
    assert await async_setup_component(hass, "auth", {})
    user = await hass.auth.async_create_user("Revoked")
    token = await hass.auth.async_create_refresh_token(user, "https://ha.example.com/")
    seen: list[str | None] = []

    async def interceptor(request: web.Request, original: hass_auth.Handler) -> web.StreamResponse:
        # Reading the form here must leave it readable for Home Assistant's own view.
        seen.append((await request.post()).get("token"))  # type: ignore[arg-type]
        return await original(request)

    assert hass_auth.intercept_post_route(hass, path, interceptor)
    assert hass_auth.intercept_post_route(hass, path, interceptor)  # no double wrap
    client = await hass_client_no_auth()
    response = await client.post(path, data={**form, "token": token.token})
    assert response.status == 200
    assert seen == [token.token]
    assert hass.auth.async_get_refresh_token_by_token(token.token) is None


async def test_no_authorize_page_without_frontend(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "http", {})

    async def interceptor(request: web.Request, original: hass_auth.Handler) -> web.StreamResponse:
        raise AssertionError("never called")

    assert not hass_auth.intercept_get_route(hass, "/auth/authorize", interceptor)


def test_client_ids_are_checked_like_indieauth() -> None:
    assert hass_auth.verify_client_id("https://example.com/")
    assert hass_auth.verify_client_id("http://127.0.0.1:8123/")
    assert not hass_auth.verify_client_id("javascript:alert(1)")
    assert not hass_auth.verify_client_id("https://user:pw@example.com/")
    assert not hass_auth.verify_client_id("https://example.com/#fragment")


async def test_redirect_uris_on_another_origin_need_the_clients_registration(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    async with client_app_page(REGISTERED_REDIRECT_URI) as client:
        same_origin = client.client_id + "callback"
        assert await hass_auth.verify_redirect_uri(
            hass, client.client_id, same_origin, allow_loopback_port_change=False
        )
        assert client.fetches == 0  # the client's own origin needs no look-up
        # Home Assistant fetches the client_id page and reads <link rel="redirect_uri">.
        assert await hass_auth.verify_redirect_uri(
            hass, client.client_id, REGISTERED_REDIRECT_URI, allow_loopback_port_change=False
        )
        assert not await hass_auth.verify_redirect_uri(
            hass,
            client.client_id,
            "https://app.example.org/elsewhere",
            allow_loopback_port_change=False,
        )
        assert client.fetches == 2
    assert await hass_auth.verify_redirect_uri(
        hass,
        "https://home-assistant.io/iOS",
        "homeassistant://auth-callback",
        allow_loopback_port_change=False,
    )


@pytest.fixture
async def failed_login_app(hass: HomeAssistant, hass_client_no_auth: Any) -> TestClient[Any, Any]:
    """Serve views that count a failed login, once raw and once through hass_auth."""
    assert await async_setup_component(hass, "http", {"http": {"login_attempts_threshold": 3}})

    class FailedLoginView(HomeAssistantView):
        url = "/test/failed/{how}"
        name = "test:failed"
        requires_auth = False

        async def get(self, request: web.Request, how: str) -> web.Response:
            if how == "raw":
                await process_wrong_login(request)
            else:
                await hass_auth.count_failed_login(request)
            return web.Response(status=400)

        async def post(self, request: web.Request, how: str) -> web.Response:
            await request.post()  # the form is read first, as our views do
            await hass_auth.count_failed_login(request)
            return web.Response(status=400)

    class SucceededLoginView(HomeAssistantView):
        url = "/test/succeeded"
        name = "test:succeeded"
        requires_auth = False

        async def get(self, request: web.Request) -> web.Response:
            hass_auth.count_successful_login(request)
            return web.Response()

    hass.http.register_view(FailedLoginView())
    hass.http.register_view(SucceededLoginView())
    client: TestClient[Any, Any] = await hass_client_no_auth()
    return client


def failed_attempts(hass: HomeAssistant) -> int:
    return hass.http.app[KEY_FAILED_LOGIN_ATTEMPTS].get(ip_address("127.0.0.1"), 0)


async def test_home_assistant_logs_the_requested_url_of_a_failed_login(
    hass: HomeAssistant, failed_login_app: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Why count_failed_login hides the query: Home Assistant logs the whole requested URL.
    await failed_login_app.get("/test/failed/raw?code=provider-code-1&state=state-1")
    assert "provider-code-1" in caplog.text
    assert failed_attempts(hass) == 1


async def test_failed_logins_are_counted_without_their_query(
    hass: HomeAssistant, failed_login_app: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with patch.object(
        persistent_notification, "async_create", wraps=persistent_notification.async_create
    ) as notify:
        await failed_login_app.get("/test/failed/wrapped?code=provider-code-2&state=state-2")
        await failed_login_app.post(
            "/test/failed/wrapped?code=provider-code-3", data={"code": "form-code-3"}
        )
    assert failed_attempts(hass) == 2
    # aiohttp's access log (INFO, off by default in Home Assistant) is not Home Assistant's.
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name != "aiohttp.access"
    )
    assert "Requested URL: '/test/failed/wrapped'" in logged
    shown = " ".join(str(call) for call in notify.call_args_list)
    assert "Login attempt" in shown
    for secret in ("provider-code-2", "state-2", "provider-code-3", "form-code-3"):
        assert secret not in logged
        assert secret not in shown
    # The third failure reaches the threshold: the address is banned, as for wrong passwords.
    await failed_login_app.get("/test/failed/wrapped?code=provider-code-4")
    assert hass.http.app[KEY_BAN_MANAGER].ip_bans_lookup


async def test_a_successful_login_resets_the_failed_login_counter(
    hass: HomeAssistant, failed_login_app: TestClient[Any, Any]
) -> None:
    response = await failed_login_app.get("/test/failed/wrapped")
    assert response.status == 400, await response.text()
    assert failed_attempts(hass) == 1
    await failed_login_app.get("/test/succeeded")
    assert failed_attempts(hass) == 0


async def test_users_are_refused_like_home_assistants_login_refuses_them(
    hass: HomeAssistant,
) -> None:
    local = make_mocked_request("GET", "/", transport=peer("192.168.1.20"))
    remote = make_mocked_request("GET", "/", transport=peer("203.0.113.7"))
    await hass.auth.async_create_user("Owner")  # the first user is the owner
    user = await hass.auth.async_create_user("Active")
    assert hass_auth.user_not_allowed_reason(hass, user, remote) is None
    local_only = await hass.auth.async_create_user("Local", local_only=True)
    assert hass_auth.user_not_allowed_reason(hass, local_only, local) is None
    assert hass_auth.user_not_allowed_reason(hass, local_only, remote) is UserRefusal.LOCAL_ONLY
    with patch("homeassistant.components.http.auth_util.is_cloud_connection", return_value=True):
        assert (
            hass_auth.user_not_allowed_reason(hass, local_only, local)
            is UserRefusal.LOCAL_ONLY_CLOUD
        )
    unknown_peer = make_mocked_request("GET", "/", transport=peer("not an address"))
    assert (
        hass_auth.user_not_allowed_reason(hass, local_only, unknown_peer) is UserRefusal.LOCAL_ONLY
    )
    await hass.auth.async_deactivate_user(user)
    assert hass_auth.user_not_allowed_reason(hass, user, local) is UserRefusal.INACTIVE


async def test_a_refusal_of_a_newer_home_assistant_is_refused_and_logged(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    user = await hass.auth.async_create_user("Someone")
    request = make_mocked_request("GET", "/", transport=peer("192.168.1.20"))
    with patch.object(
        hass_auth, "async_user_not_allowed_do_auth", return_value="User is on holiday"
    ):
        assert hass_auth.user_not_allowed_reason(hass, user, request) is UserRefusal.UNKNOWN
    assert "Home Assistant refuses the login of Someone: User is on holiday" in caplog.text


async def test_trusted_networks_apply_to_their_addresses_only(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "http", {})
    inside = make_mocked_request("GET", "/", transport=peer("192.168.1.20"))
    outside = make_mocked_request("GET", "/", transport=peer("192.168.2.20"))
    assert not hass_auth.trusted_network_applies(hass, inside)
    await register_auth_provider(
        hass, {"type": "trusted_networks", "trusted_networks": ["192.168.1.0/24"]}
    )
    assert hass_auth.trusted_network_applies(hass, inside)
    assert not hass_auth.trusted_network_applies(hass, outside)


@pytest.mark.parametrize(("done", "onboarded"), [([], False), (["user"], True)])
async def test_onboarding_of_the_first_user_is_read(
    hass: HomeAssistant, hass_storage: dict[str, Any], done: list[str], onboarded: bool
) -> None:
    hass_storage["onboarding"] = {
        "version": 4,
        "minor_version": 1,
        "key": "onboarding",
        "data": {"done": done},
    }
    assert await async_setup_component(hass, "onboarding", {})
    assert hass_auth.user_onboarded(hass) is onboarded
