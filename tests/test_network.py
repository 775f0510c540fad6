"""Tests for reverse proxies, force_https and trusted networks."""

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import register_auth_provider

from custom_components.auth_oidc.const import DOMAIN
from tests.fake_provider import FakeProvider
from tests.login_driver import authorize_query, setup_harness

pytestmark = [pytest.mark.usefixtures("onboarded"), pytest.mark.fake_provider(alg="RS256")]


def provider_redirect_uri(location: str) -> str:
    return parse_qs(urlsplit(location).query)["redirect_uri"][0]


async def start(client: Any, hass: HomeAssistant, **headers: str) -> str:
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    response = await client.post(
        "/auth/oidc/redirect",
        data={**authorize_query(), "entry_id": entry.entry_id},
        headers=headers,
        allow_redirects=False,
    )
    assert response.status == 302, await response.text()
    return str(response.headers["Location"])


async def test_callback_url_follows_trusted_proxy_headers(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider
) -> None:
    assert await async_setup_component(
        hass, "http", {"http": {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]}}
    )
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    client = harness.client
    location = await start(
        client,
        hass,
        **{
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "ha.example.com",
        },
    )
    assert provider_redirect_uri(location) == "https://ha.example.com/auth/oidc/callback"


async def test_untrusted_forwarded_headers_are_refused(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    client = harness.client
    response = await client.post(
        "/auth/oidc/redirect",
        data={
            **authorize_query(),
            "entry_id": hass.config_entries.async_entries(DOMAIN)[0].entry_id,
        },
        headers={
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.example.net",
        },
        allow_redirects=False,
    )
    # Home Assistant refuses forwarded headers from a proxy it does not trust.
    assert response.status == 400
    assert "evil.example.net" not in response.headers.get("Location", "")


async def test_force_https(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        features={"force_https": True},
    )
    client = harness.client
    redirect_uri = provider_redirect_uri(await start(client, hass))
    parts = urlsplit(redirect_uri)
    assert (parts.scheme, parts.path) == ("https", "/auth/oidc/callback")
    assert parts.hostname == "127.0.0.1"


async def test_trusted_networks_keep_their_bypass(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider
) -> None:
    await register_auth_provider(
        hass, {"type": "trusted_networks", "trusted_networks": ["127.0.0.0/8"]}
    )
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    client = harness.client
    response = await client.get(
        "/auth/authorize?" + urlencode(authorize_query()), allow_redirects=False
    )
    assert response.status == 200  # Home Assistant's own page, with the trusted-network login
    assert hass.auth.auth_providers[-1].type == DOMAIN  # ours comes after the configured ones


async def test_not_onboarded_shows_home_assistant_page(
    hass: HomeAssistant, hass_client_no_auth, hass_storage: dict[str, Any], provider: FakeProvider
) -> None:
    hass_storage["onboarding"]["data"]["done"] = []
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    client = harness.client
    response = await client.get(
        "/auth/authorize?" + urlencode(authorize_query()), allow_redirects=False
    )
    assert response.status == 200
