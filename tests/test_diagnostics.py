"""Integration tests: the diagnostics download and system health, through Home Assistant's APIs."""

import json
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import get_system_health_info
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.auth_oidc.const import DOMAIN
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    VERIFIER,
    Harness,
    setup_harness,
)


async def set_up_diagnostics(hass: HomeAssistant) -> None:
    """Set up Home Assistant's diagnostics before the integration."""
    assert await async_setup_component(hass, "diagnostics", {})


pytestmark = [
    pytest.mark.usefixtures("onboarded", "client_id_pages"),
    pytest.mark.harness(before_setup=set_up_diagnostics),
]


def login_secrets(harness: Harness) -> list[str]:
    """Return every secret value the logins so far have involved."""
    provider = harness.provider
    values = [provider.client_secret, VERIFIER]
    for request in provider.token_requests:
        values += [request["form"].get("code", ""), request["form"].get("code_verifier", "")]
        values.append(request["authorization"] or "")
    for response in provider.token_responses:
        values += [str(response.get(name, "")) for name in ("access_token", "id_token")]
    values += [code for _, code in harness.issued_codes]
    values += [request["state"] for request in provider.authorization_requests]
    values += [request["nonce"] for request in provider.authorization_requests]
    return [value for value in values if len(value) >= 8]


async def test_diagnostics_describe_the_provider_without_any_secret(
    hass: HomeAssistant, harness: Harness, hass_client: Any
) -> None:
    tokens = await harness.login_ok()
    await harness.login(headers={"Cookie": "x=1"})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, harness.entry)

    assert diagnostics["settings"]["client_secret"] == "**REDACTED**"
    assert diagnostics["settings"]["client_id"] == harness.provider.client_id
    assert diagnostics["client_type"] == "confidential"
    discovery = diagnostics["discovery"]
    assert discovery["issuer"] == harness.provider.issuer
    host = harness.provider.issuer.removeprefix("http://")
    assert discovery["endpoint_hosts"]["token"] == host
    assert discovery["id_token_signing_algs"] == ["ES256"]
    assert "S256" in discovery["code_challenge_methods"]
    assert discovery["rfc9207_iss_parameter"] is True
    assert diagnostics["jwks"]["keys"] == [
        {"kid": harness.provider.kid, "kty": "EC", "alg": "ES256"}
    ]
    assert diagnostics["jwks"]["age_seconds"] >= 0
    assert diagnostics["callback_urls"]["recently_used"] == [
        f"http://{harness.client.host}:{harness.client.port}/auth/oidc/callback"
    ]
    assert [p["type"] for p in diagnostics["provider_order"]] == ["homeassistant", DOMAIN]
    health = diagnostics["health"]
    assert health["available"] is True
    assert health["last_successful_login"] is not None
    assert health["login_outcomes"]["success"] == 2
    assert diagnostics["versions"]["joserfc"] == "1.8.0"

    text = json.dumps(diagnostics)
    secrets = [*login_secrets(harness), tokens["access_token"], tokens["refresh_token"]]
    assert len(secrets) >= 10
    for secret in secrets:
        assert secret not in text


async def test_diagnostics_before_the_provider_ever_answered(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, hass_client: Any
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    provider.status["discovery"] = 503
    harness = await setup_harness(hass, hass_client_no_auth, provider)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, harness.entry)
    assert diagnostics["discovery"] is None
    assert diagnostics["jwks"] is None
    assert diagnostics["health"]["available"] is False
    assert diagnostics["health"]["last_failure_code"] == "discovery_http_status"


async def test_system_health_reports_reachability_last_login_and_key_age(
    hass: HomeAssistant, harness: Harness
) -> None:
    assert await async_setup_component(hass, "system_health", {})
    info = await get_system_health_info(hass, DOMAIN)
    assert info["providers"] == "Pocket ID"
    assert await info["provider_reachable"] == "ok"
    assert info["last_successful_login"] == "Pocket ID: -"
    await harness.login_ok()
    info = await get_system_health_info(hass, DOMAIN)
    info["provider_reachable"].close()
    assert info["last_successful_login"].startswith("Pocket ID: 20")
    assert info["jwks_age"].startswith("Pocket ID: ")
    assert info["jwks_age"].endswith(" s")

    harness.provider.status["discovery"] = 503
    info = await get_system_health_info(hass, DOMAIN)
    assert await info["provider_reachable"] == {
        "type": "failed",
        "error": "Pocket ID: discovery_http_status",
    }
