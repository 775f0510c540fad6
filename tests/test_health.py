"""Integration tests: repair issues, log-once availability, reauthentication, internals guard."""

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.auth_oidc.const import DOMAIN
from custom_components.auth_oidc.health import UNREACHABLE_AFTER
from custom_components.auth_oidc.settings import SETTINGS_SCHEMA
from tests.fake_clock import FakeClock
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    Harness,
    reason_text,
    setup_harness,
)

pytestmark = pytest.mark.usefixtures("onboarded", "client_id_pages")


def issue(hass: HomeAssistant, kind: str, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry_id}")


CHECK_INTERVAL = timedelta(seconds=20)


@pytest.fixture(autouse=True)
def short_health_check_interval() -> Iterator[None]:
    """Check health every 20 s: firing five minutes ahead would also fire HA's own timers."""
    with patch("custom_components.auth_oidc.HEALTH_CHECK_INTERVAL", CHECK_INTERVAL):
        yield


type HealthChecks = Callable[[int], Awaitable[None]]


@pytest.fixture
def run_health_checks(hass: HomeAssistant, harness: Harness) -> HealthChecks:
    """Return a function that lets the periodic check run n times, a minute of health clock apart.

    Time moves in short steps, so that Home Assistant's own five-minute timers never fire.
    """
    clock = FakeClock(now=time.time())
    harness.entry.runtime_data.health.clock = clock
    elapsed = timedelta()

    async def run(count: int) -> None:
        nonlocal elapsed
        for _ in range(count):
            clock.advance(60)
            elapsed += CHECK_INTERVAL
            async_fire_time_changed(hass, dt_util.utcnow() + elapsed)
            await hass.async_block_till_done(wait_background_tasks=True)

    return run


async def test_unreachable_provider_raises_a_repair_and_logs_once_each_way(
    hass: HomeAssistant,
    harness: Harness,
    caplog: pytest.LogCaptureFixture,
    run_health_checks: HealthChecks,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.auth_oidc")
    harness.provider.status["discovery"] = 503

    await run_health_checks(UNREACHABLE_AFTER - 1)
    assert issue(hass, "provider_unreachable", harness.entry_id) is None
    await run_health_checks(2)
    raised = issue(hass, "provider_unreachable", harness.entry_id)
    assert raised is not None
    assert raised.translation_key == "provider_unreachable"
    assert raised.translation_placeholders == {"name": "Pocket ID", "code": "discovery_http_status"}
    unavailable = [r for r in caplog.records if "is unavailable" in r.getMessage()]
    assert len(unavailable) == 1
    assert unavailable[0].levelno == logging.WARNING

    del harness.provider.status["discovery"]
    await run_health_checks(2)
    assert issue(hass, "provider_unreachable", harness.entry_id) is None
    recovered = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(recovered) == 1
    await harness.login_ok()


async def test_failed_logins_during_an_outage_log_no_warning_each(
    hass: HomeAssistant, harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    health = harness.entry.runtime_data.health
    health.clock = FakeClock(now=time.time())
    harness.provider.status["token"] = 502
    for _ in range(3):
        response = await harness.login()
        assert response.status == 502
    warnings = [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("custom")
    ]
    assert [r.getMessage() for r in warnings] == [
        "OpenID provider Pocket ID is unavailable (token_request_failed); "
        "Home Assistant's own login still works"
    ]
    assert health.summary()["login_outcomes"] == {"provider_unavailable": 3}


async def test_incompatible_discovery_change_raises_a_repair_until_fixed(
    hass: HomeAssistant, harness: Harness, run_health_checks: HealthChecks
) -> None:
    harness.provider.discovery_override["id_token_signing_alg_values_supported"] = ["HS256"]
    await run_health_checks(1)
    raised = issue(hass, "discovery_incompatible", harness.entry_id)
    assert raised is not None
    assert raised.translation_placeholders is not None
    assert raised.translation_placeholders["code"] == "discovery_no_usable_alg"

    harness.provider.discovery_override.clear()
    await run_health_checks(1)
    assert issue(hass, "discovery_incompatible", harness.entry_id) is None


async def test_clock_skew_raises_a_repair_before_logins_fail(
    hass: HomeAssistant, harness: Harness
) -> None:
    harness.provider.clock = lambda: time.time() + 45
    await harness.login_ok()
    raised = issue(hass, "clock_skew", harness.entry_id)
    assert raised is not None
    assert raised.translation_placeholders is not None
    assert raised.translation_placeholders["seconds"] in {"+44", "+45", "+46"}

    harness.provider.clock = time.time
    await harness.login_ok()
    assert issue(hass, "clock_skew", harness.entry_id) is None


async def test_http_callback_behind_an_untrusted_https_proxy_raises_a_repair(
    hass: HomeAssistant, harness: Harness
) -> None:
    # Home Assistant does not trust this proxy, so the callback URL it builds stays http.
    response = await harness.login(headers={"X-Forwarded-Proto": "https"})
    assert response.status == 302
    raised = issue(hass, "callback_http", harness.entry_id)
    assert raised is not None
    assert raised.translation_placeholders is not None
    assert raised.translation_placeholders["callback_url"].startswith("http://")


async def test_unauthenticated_requests_cannot_raise_the_proxy_repair(
    hass: HomeAssistant, harness: Harness
) -> None:
    response = await harness.start(headers={"X-Forwarded-Proto": "https"})
    assert response.status == 302
    assert issue(hass, "callback_http", harness.entry_id) is None


# -- the rejected client secret: repair, fix flow, reauthentication ---------------------


@pytest.fixture
async def ui_entry(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> Harness:
    """Set up a provider as the UI would have stored it, and a harness around it."""
    assert await async_setup_component(hass, "http", {"http": {}})
    assert await async_setup_component(hass, "repairs", {})
    data = SETTINGS_SCHEMA(
        {
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "discovery_url": provider.discovery_url,
            "display_name": "Pocket ID",
        }
    )
    entry = MockConfigEntry(
        domain=DOMAIN, data=data, source=SOURCE_USER, unique_id=provider.issuer, title="Pocket ID"
    )
    entry.add_to_hass(hass)
    return await setup_harness(hass, hass_client_no_auth, provider)


async def start_reauth(hass: HomeAssistant, entry: ConfigEntry) -> ConfigFlowResult:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_REAUTH, "entry_id": entry.entry_id}, data=dict(entry.data)
    )


async def test_rejected_client_secret_leads_through_the_repair_to_reauthentication(
    hass: HomeAssistant, ui_entry: Harness, hass_client: Any
) -> None:
    harness = ui_entry
    entry_id = harness.entry_id
    harness.provider.client_secret = "rotated-at-the-provider"
    response = await harness.login()
    assert response.status == 502
    assert reason_text("client_rejected") in await response.text()
    assert harness.failed_login_attempts() == 0
    raised = issue(hass, "client_rejected", entry_id)
    assert raised is not None
    assert raised.is_fixable
    await hass.async_block_till_done()
    reauth = [
        flow
        for flow in hass.config_entries.flow.async_progress()
        if flow["context"]["source"] == "reauth"
    ]
    assert len(reauth) == 1

    # The repair's fix flow, through Home Assistant's repairs API.
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix",
        json={"handler": DOMAIN, "issue_id": f"client_rejected_{entry_id}"},
    )
    assert response.status == 200, await response.text()
    flow = await response.json()
    assert flow["step_id"] == "confirm", flow
    assert flow["description_placeholders"] == {"name": "Pocket ID"}
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"

    result = await hass.config_entries.flow.async_configure(
        reauth[0]["flow_id"], {"client_secret": "rotated-at-the-provider"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    entry = hass.config_entries.async_get_entry(entry_id)
    assert entry is not None
    assert entry.data["client_secret"] == "rotated-at-the-provider"
    assert issue(hass, "client_rejected", entry_id) is None
    await harness.login_ok()


async def test_reauthentication_can_switch_to_a_public_client(
    hass: HomeAssistant, ui_entry: Harness
) -> None:
    result = await start_reauth(hass, ui_entry.entry)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {
        "name": "Pocket ID",
        "client_id": ui_entry.provider.client_id,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert "client_secret" not in ui_entry.entry.data
    await ui_entry.login_ok()
    assert ui_entry.provider.token_requests[-1]["auth_method"] == "none"


async def test_reauthentication_refuses_a_public_client_without_pkce(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    data = SETTINGS_SCHEMA(
        {
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "discovery_url": provider.discovery_url,
            "features": {"disable_rfc7636": True},
        }
    )
    entry = MockConfigEntry(domain=DOMAIN, data=data, source=SOURCE_USER, unique_id=provider.issuer)
    entry.add_to_hass(hass)
    await setup_harness(hass, hass_client_no_auth, provider)
    result = await start_reauth(hass, entry)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"client_secret": "secret_required_without_pkce"}
    assert entry.data["client_secret"] == provider.client_secret


async def test_yaml_provider_cannot_be_reauthenticated_in_the_ui(
    hass: HomeAssistant, harness: Harness
) -> None:
    result = await start_reauth(hass, harness.entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "yaml_managed"


# -- configuration problems ---------------------------------------------------------------


async def test_yaml_block_for_a_ui_provider_raises_a_repair(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = SETTINGS_SCHEMA({"client_id": "ui", "discovery_url": provider.discovery_url})
    MockConfigEntry(
        domain=DOMAIN, data=data, source=SOURCE_USER, unique_id=provider.issuer
    ).add_to_hass(hass)
    await setup_harness(hass, hass_client_no_auth, provider)
    raised = ir.async_get(hass).async_get_issue(DOMAIN, "yaml_ignored")
    assert raised is not None
    assert raised.translation_placeholders == {"issuer": provider.issuer}
    assert "configuration.yaml is ignored" in caplog.text
    assert [entry.data["client_id"] for entry in hass.config_entries.async_entries(DOMAIN)] == [
        "ui"
    ]


async def test_changed_auth_internals_switch_sso_off_and_keep_the_password_login(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    with patch(
        "custom_components.auth_oidc.register_provider",
        side_effect=AttributeError("'AuthManager' object has no attribute '_providers'"),
    ):
        harness = await setup_harness(hass, hass_client_no_auth, provider)
    assert harness.entry.state is ConfigEntryState.SETUP_ERROR
    raised = ir.async_get(hass).async_get_issue(DOMAIN, "internals_changed")
    assert raised is not None
    response = await harness.client.get("/auth/providers")
    assert response.status == 200
    assert [p["type"] for p in (await response.json())["providers"]] == ["homeassistant"]
