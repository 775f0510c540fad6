"""Integration tests: re-checking access at the provider ends or demotes what it disallows."""

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from homeassistant.auth.models import User
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import CoreState, Event, HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.auth_oidc import access_recheck
from custom_components.auth_oidc.access_recheck import AccessRecheck
from custom_components.auth_oidc.const import DOMAIN, EVENT_REVOKED, EVENT_ROLE_CHANGED
from custom_components.auth_oidc.provider_tokens import (
    KEY_STORAGE_KEY,
    TOKENS_STORAGE_KEY,
    ProviderTokenStore,
    provider_token_store,
)
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    CLIENT_ID,
    USER,
    Harness,
    setup_harness,
)

RECHECK = {"recheck_access": True, "recheck_interval": 1}
pytestmark = [
    pytest.mark.usefixtures("onboarded", "client_id_pages"),
    pytest.mark.harness(features=RECHECK),
]
PERIOD = timedelta(minutes=1)
SUBJECT = str(USER["sub"])


async def make_harness(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider, **options: Any
) -> Harness:
    features = {**RECHECK, **options.pop("features", {})}
    return await setup_harness(hass, hass_client_no_auth, provider, features=features, **options)


def recheck(harness: Harness) -> AccessRecheck:
    assert harness.entry.runtime_data.access_recheck is not None
    return harness.entry.runtime_data.access_recheck


def alive(hass: HomeAssistant, refresh_token: str) -> bool:
    return hass.auth.async_get_refresh_token_by_token(refresh_token) is not None


async def one_period_later(hass: HomeAssistant) -> None:
    """Let one re-check period pass and the cycle it starts finish."""
    async_fire_time_changed(hass, dt_util.utcnow() + PERIOD)
    await hass.async_block_till_done(wait_background_tasks=True)


async def logged_in_user(hass: HomeAssistant, refresh_token: str) -> User:
    token = hass.auth.async_get_refresh_token_by_token(refresh_token)
    assert token is not None
    return token.user


def collect(hass: HomeAssistant, event_type: str) -> list[Event]:
    events: list[Event] = []
    hass.bus.async_listen(event_type, events.append)
    return events


async def test_user_disabled_at_the_provider_loses_their_sessions(
    hass: HomeAssistant, harness: Harness
) -> None:
    first = (await harness.login_ok())["refresh_token"]
    second = (await harness.login_ok())["refresh_token"]
    revoked = collect(hass, EVENT_REVOKED)

    await one_period_later(hass)
    assert alive(hass, first)
    assert alive(hass, second)
    assert not revoked

    harness.provider.disabled_subjects.add(SUBJECT)
    await one_period_later(hass)

    assert not alive(hass, first)
    assert not alive(hass, second)
    [event] = revoked
    assert event.data["reason"] == "provider_refused"
    assert event.data["sessions"] == 2
    assert event.data["provider"] == "Pocket ID"
    assert recheck(harness).tokens.count(harness.entry_id) == 0
    # Home Assistant's own login is untouched: only this provider's sessions ended.
    assert [p.type for p in hass.auth.auth_providers] == ["homeassistant", DOMAIN]


async def test_user_removed_from_the_required_group_loses_their_sessions(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await make_harness(hass, hass_client_no_auth, provider, roles={"user": "users"})
    session = (await harness.login_ok())["refresh_token"]
    revoked = collect(hass, EVENT_REVOKED)

    provider.user["groups"] = ["guests"]
    await one_period_later(hass)

    assert not alive(hass, session)
    [event] = revoked
    assert event.data["reason"] == "not_allowed"


async def test_user_removed_from_the_admin_group_is_demoted(
    hass: HomeAssistant, harness: Harness
) -> None:
    session = (await harness.login_ok())["refresh_token"]
    user = await logged_in_user(hass, session)
    assert user.is_admin
    role_changes = collect(hass, EVENT_ROLE_CHANGED)

    harness.provider.user["groups"] = ["users"]
    await one_period_later(hass)

    assert alive(hass, session)
    assert not (await logged_in_user(hass, session)).is_admin
    [event] = role_changes
    assert (event.data["old_role"], event.data["new_role"]) == ("admin", "user")


async def test_the_owner_is_never_demoted(hass: HomeAssistant, harness: Harness) -> None:
    session = (await harness.login_ok())["refresh_token"]
    user = await logged_in_user(hass, session)
    user.is_owner = True
    role_changes = collect(hass, EVENT_ROLE_CHANGED)

    harness.provider.user["groups"] = ["users"]
    await one_period_later(hass)

    assert alive(hass, session)
    assert user.is_admin
    assert not role_changes


async def test_a_dead_provider_revokes_nothing_and_raises_unreachable(
    hass: HomeAssistant, harness: Harness
) -> None:
    session = (await harness.login_ok())["refresh_token"]
    revoked = collect(hass, EVENT_REVOKED)
    health = harness.entry.runtime_data.health
    now = [dt_util.utcnow().timestamp()]
    # Failures closer together than a few seconds count once; each period is a minute.
    health.clock = lambda: now[0]

    harness.provider.down = True
    for _ in range(3):
        now[0] += PERIOD.total_seconds()
        await one_period_later(hass)

    assert alive(hass, session)
    assert not revoked
    assert recheck(harness).tokens.count(harness.entry_id) == 1
    issue_id = f"provider_unreachable_{harness.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    # Back up: the same token still works and the repair goes away.
    harness.provider.down = False
    await one_period_later(hass)
    assert alive(hass, session)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_kept_tokens_are_encrypted_at_rest(
    hass: HomeAssistant, harness: Harness, hass_storage: dict[str, Any]
) -> None:
    await harness.login_ok()
    await one_period_later(hass)  # the check rotates the token and saves at once
    issued = [r["refresh_token"] for r in harness.provider.token_responses]
    assert len(issued) == 2

    raw = json.dumps(hass_storage[TOKENS_STORAGE_KEY])
    for token in issued:
        assert token not in raw
    assert SUBJECT in raw
    key_file = json.dumps(hass_storage[KEY_STORAGE_KEY])
    assert all(token not in key_file for token in issued)
    # What is on disk right after the round is the rotated token (the spent one is useless).
    from_disk = ProviderTokenStore(hass)
    assert await from_disk.async_token(harness.entry_id, SUBJECT) == issued[-1]
    store = provider_token_store(hass)
    # A sealed token is bound to its slot: copied to another user, it does not open.
    sealed = hass_storage[TOKENS_STORAGE_KEY]["data"][harness.entry_id][SUBJECT]
    store._data[harness.entry_id]["someone-else"] = sealed.copy()
    assert await store.async_token(harness.entry_id, "someone-else") is None


async def test_work_per_cycle_is_bounded(
    hass: HomeAssistant, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_recheck, "MAX_CHECKS_PER_CYCLE", 3)
    await sessions_for(hass, harness, 5)
    before = harness.provider.requests["token"]

    first = await recheck(harness).async_run_cycle()
    assert sum(first.values()) == 3
    assert harness.provider.requests["token"] - before == 3
    second = await recheck(harness).async_run_cycle()
    assert sum(second.values()) == 3
    refreshed = harness.provider.refreshed_subjects
    assert len(set(refreshed[:3])) == 3
    # Least recently checked first: the second cycle reaches the two the first left out.
    assert set(refreshed[:3]) | set(refreshed[3:]) == {f"user-{index}" for index in range(5)}


async def sessions_for(hass: HomeAssistant, harness: Harness, count: int) -> None:
    """Give `count` provider users a Home Assistant session and a kept refresh token."""
    provider = harness.entry.runtime_data.provider
    store = provider_token_store(hass)
    for index in range(count):
        subject = f"user-{index}"
        credentials = provider.async_create_credentials({"sub": subject, "role": "user"})
        user = await hass.auth.async_get_or_create_user(credentials)
        await hass.auth.async_create_refresh_token(user, CLIENT_ID, credential=credentials)
        await store.async_keep(
            harness.entry_id, subject, harness.provider.issue_refresh_token(subject)
        )


async def test_a_dead_provider_ends_the_cycle_early(hass: HomeAssistant, harness: Harness) -> None:
    await sessions_for(hass, harness, 12)
    harness.provider.down = True
    before = harness.provider.requests["token"]

    outcomes = await recheck(harness).async_run_cycle()

    # Only the checks already under way when the first outage came back asked the provider.
    asked = harness.provider.requests["token"] - before
    assert asked <= access_recheck.CONCURRENT_CHECKS
    assert outcomes["provider_down"] == asked
    assert outcomes["skipped_provider_down"] == 12 - asked
    assert not outcomes["revoked"]


async def test_no_session_left_drops_the_token_without_asking_the_provider(
    hass: HomeAssistant, harness: Harness
) -> None:
    session = (await harness.login_ok())["refresh_token"]
    token = hass.auth.async_get_refresh_token_by_token(session)
    assert token is not None
    hass.auth.async_remove_refresh_token(token)
    before = harness.provider.requests["token"]

    await one_period_later(hass)

    assert harness.provider.requests["token"] == before
    assert recheck(harness).tokens.count(harness.entry_id) == 0


async def test_off_by_default_keeps_nothing(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    hass_storage: dict[str, Any],
) -> None:
    harness = await setup_harness(hass, hass_client_no_auth, provider)
    await harness.login_ok()
    await one_period_later(hass)
    assert recheck(harness).tokens.count(harness.entry_id) == 0
    assert harness.provider.requests["token"] == 1
    assert TOKENS_STORAGE_KEY not in hass_storage
    assert KEY_STORAGE_KEY not in hass_storage


async def test_login_without_refresh_token_is_counted_not_logged(
    hass: HomeAssistant, harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.provider.issue_refresh_tokens = False
    await harness.login_ok()
    await harness.login_ok()
    assert recheck(harness).logins_without_refresh_token == 2
    assert caplog.text.count("issued no refresh token") == 1


async def test_removing_the_provider_drops_its_tokens(
    hass: HomeAssistant, harness: Harness
) -> None:
    await harness.login_ok()
    store = provider_token_store(hass)
    entry_id = harness.entry_id
    assert store.count(entry_id) == 1
    await hass.config_entries.async_remove(entry_id)
    assert store.count(entry_id) == 0


async def test_diagnostics_show_counts_and_never_a_token(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    provider: FakeProvider,
    hass_client: Callable[..., Any],
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    harness = await make_harness(hass, hass_client_no_auth, provider)
    await harness.login_ok()
    await one_period_later(hass)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, harness.entry)

    summary = diagnostics["access_recheck"]
    assert summary["enabled"] is True
    assert summary["interval_minutes"] == 1
    assert summary["logins_with_kept_token"] == 1
    assert summary["last_cycle"]["role_checked"] == 1
    text = json.dumps(diagnostics)
    for response in harness.provider.token_responses:
        assert response["refresh_token"] not in text
        assert response["access_token"] not in text


async def test_provider_logout_forgets_the_token_so_other_sessions_stay(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    harness = await make_harness(
        hass, hass_client_no_auth, provider, features={"end_provider_session": True}
    )
    kept = (await harness.login_ok())["refresh_token"]
    leaving = (await harness.login_ok())["refresh_token"]
    assert recheck(harness).tokens.count(harness.entry_id) == 1

    # Logging out with the provider session too: the provider revokes its refresh token
    # (Pocket ID does), which must not read as the user losing access.
    response = await harness.client.post("/auth/revoke", data={"token": leaving})
    assert response.status == 200
    provider.refresh_tokens.clear()
    await one_period_later(hass)

    assert recheck(harness).tokens.count(harness.entry_id) == 0
    assert alive(hass, kept)


async def test_a_recheck_runs_once_home_assistant_has_started(
    hass: HomeAssistant, harness: Harness
) -> None:
    session = (await harness.login_ok())["refresh_token"]
    harness.provider.disabled_subjects.add(SUBJECT)
    hass.set_state(CoreState.starting)
    assert await hass.config_entries.async_reload(harness.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert alive(hass, session)  # not while Home Assistant is still starting

    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert not alive(hass, session)


async def test_a_bad_answer_revokes_nothing_and_is_logged_once_per_round(
    hass: HomeAssistant, harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await sessions_for(hass, harness, 3)
    harness.provider.id_token_claims_override = {"aud": "another-client"}
    revoked = collect(hass, EVENT_REVOKED)

    outcomes = await recheck(harness).async_run_cycle()

    assert outcomes == {"failed": 3}
    assert not revoked
    assert recheck(harness).tokens.count(harness.entry_id) == 3
    [line] = [r.getMessage() for r in caplog.records if "Re-checking access" in r.getMessage()]
    assert line.endswith("failed for 3 user(s): id_token_audience")
