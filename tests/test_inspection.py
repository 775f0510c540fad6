"""Integration tests: the claim inspector reached from the options flow."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from markupsafe import escape
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.auth_oidc.const import DOMAIN
from custom_components.auth_oidc.settings import SETTINGS_SCHEMA
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    USER,
    Harness,
    reason_text,
    response_secrets,
    setup_harness,
)

pytestmark = pytest.mark.usefixtures("onboarded", "client_id_pages")


async def ui_harness(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, **options: Any
) -> Harness:
    data = SETTINGS_SCHEMA(
        {
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "discovery_url": provider.discovery_url,
            "display_name": "Pocket ID",
            **options,
        }
    )
    MockConfigEntry(
        domain=DOMAIN, data=data, source=SOURCE_USER, unique_id=provider.issuer, title="Pocket ID"
    ).add_to_hass(hass)
    return await setup_harness(hass, hass_client_no_auth, provider)


async def inspector_link(hass: HomeAssistant, harness: Harness) -> str:
    """Open the options flow as an admin would and return its test-login link."""
    result = await hass.config_entries.options.async_init(harness.entry_id)
    assert result["step_id"] == "init"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    link = placeholders["inspect_url"]
    hass.config_entries.options.async_abort(result["flow_id"])
    return link


async def inspect(harness: Harness, link: str) -> tuple[int, str]:
    """Follow the link through the provider back to the callback; return status and page."""
    response = await harness.client.get(link, allow_redirects=False)
    assert response.status == 302, await response.text()
    query = await harness.provider.authorize(response.headers["Location"])
    response = await harness.callback(query)
    return response.status, await response.text()


async def test_inspector_shows_claims_identity_and_role_and_creates_nothing(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await ui_harness(hass, hass_client_no_auth, provider)
    before = await harness.side_effects()
    status, page = await inspect(harness, await inspector_link(hass, harness))

    assert status == 200
    assert "Role: administrator" in page
    assert "The claim groups contains admins: administrator." in page
    assert "<code>preferred_username</code>" in page
    assert "alice" in page
    assert str(USER["sub"]) in page
    assert "<code>nonce</code>" not in page
    for secret in response_secrets(provider):
        assert secret not in page
    after = await harness.side_effects()
    assert after.durable == before.durable
    assert after.auth_codes == before.auth_codes
    assert harness.failed_login_attempts() == 0


async def test_inspector_explains_why_a_user_may_not_log_in(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    provider.user = {**USER, "groups": ["guests"]}
    harness = await ui_harness(hass, hass_client_no_auth, provider, roles={"user": "family"})
    status, page = await inspect(harness, await inspector_link(hass, harness))
    assert status == 200
    assert "Role: user" in page
    assert str(escape("The claim groups does not contain admins: not an administrator.")) in page
    assert "Logging in requires the group family (or the administrator group)" in page
    assert "This user may not log in." in page


async def test_inspector_link_works_once(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await ui_harness(hass, hass_client_no_auth, provider)
    link = await inspector_link(hass, harness)
    assert parse_qs(urlsplit(link).query)["grant"][0]
    first = await harness.client.get(link, allow_redirects=False)
    assert first.status == 302
    again = await harness.client.get(link, allow_redirects=False)
    assert again.status == 403
    assert reason_text("inspect_link_expired") in await again.text()
    forged = await harness.client.get("/auth/oidc/inspect?grant=guessed", allow_redirects=False)
    assert forged.status == 403
    missing = await harness.client.get("/auth/oidc/inspect", allow_redirects=False)
    assert missing.status == 400


async def test_inspector_reports_a_failed_test_login(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await ui_harness(hass, hass_client_no_auth, provider)
    link = await inspector_link(hass, harness)
    provider.id_token_claims_override["aud"] = "someone-else"
    status, page = await inspect(harness, link)
    assert status == 400
    assert "The test login failed: id_token_audience." in page


async def test_inspector_names_an_unreadable_groups_claim(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    provider.user = {**USER, "groups": 42}
    harness = await ui_harness(hass, hass_client_no_auth, provider)
    status, page = await inspect(harness, await inspector_link(hass, harness))
    assert status == 200
    assert "The groups claim cannot be read, so it grants nothing: the groups claim was a" in page
    assert "Role: user" in page
