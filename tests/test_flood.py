"""Flood the public endpoints: bounded pending-login store, no disk writes, logins keep working.

Figures (memory, requests/s) are measured by scripts/bench_flood.py, not here.
`FLOOD_REQUESTS` (environment) sets the size of the flood (default 2000).
"""

import asyncio
import html
import os
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import aiohttp
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.auth_oidc.device_login import (
    CREATIONS_PER_SOURCE,
    DEVICE_LOGIN_CAP,
    LIMITER_CAP,
    PER_SOURCE_CAP,
)
from custom_components.auth_oidc.login_state import PENDING_LOGINS_PER_ADDRESS, PendingLoginStore
from custom_components.auth_oidc.pages import qr_svg
from custom_components.auth_oidc.runtime import DATA_DOMAIN
from tests.client_app import REGISTERED_REDIRECT_URI, ClientApp
from tests.fake_clock import FakeClock
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    EXPECTED_FLOOD_STATUS,
    Harness,
    authorize_query,
    flood_requests,
    registered_client_query,
    setup_harness,
    storage_writes,
)

FLOOD_REQUESTS = int(os.environ.get("FLOOD_REQUESTS", "2000"))
CAP = 50
CONCURRENCY = 25
# Home Assistant's default: failed logins are not counted, so nothing is banned (or written).
NO_BAN = {"login_attempts_threshold": -1}


def cap_pending_logins(harness: Harness) -> None:
    """Bound the pending logins at CAP, so that a flood fills the store."""
    harness.hass.data[DATA_DOMAIN].pending_logins = PendingLoginStore(cap=CAP)


pytestmark = [
    pytest.mark.usefixtures("onboarded", "client_id_pages"),
    pytest.mark.harness(http=NO_BAN, frontend=True, after_setup=cap_pending_logins),
]


async def flood(harness: Harness, total: int, *, kinds: set[str] | None = None) -> Counter[str]:
    """Send `total` requests, CONCURRENCY at a time; check the store bound after each batch."""
    senders = [entry for entry in flood_requests() if kinds is None or entry[0] in kinds]
    store = harness.hass.data[DATA_DOMAIN].pending_logins
    devices = harness.hass.data[DATA_DOMAIN].device_logins
    sent: Counter[str] = Counter()
    for batch_start in range(0, total, CONCURRENCY):
        batch = [
            senders[index % len(senders)]
            for index in range(batch_start, min(total, batch_start + CONCURRENCY))
        ]
        statuses = await asyncio.gather(*(send(harness) for _, send in batch))
        for (name, _), status in zip(batch, statuses, strict=True):
            assert status in EXPECTED_FLOOD_STATUS[name], (name, status)
            sent[name] += 1
        assert len(store) <= CAP
        assert len(devices) <= DEVICE_LOGIN_CAP
        assert len(devices.limiter) <= LIMITER_CAP
    return sent


def config_dir_snapshot(hass: HomeAssistant) -> dict[str, tuple[int, int]]:
    """Return every file below the config directory with its size and modification time."""
    root = Path(hass.config.config_dir)
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


async def flush_delayed_writes(hass: HomeAssistant) -> None:
    """Fire time listeners an hour ahead, so that anything the flood scheduled runs."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=1))
    await hass.async_block_till_done()


async def test_flood_keeps_state_bounded_and_writes_nothing(
    hass: HomeAssistant, harness: Harness
) -> None:
    files_before = config_dir_snapshot(hass)
    users_before = await harness.side_effects()

    with storage_writes() as saved:
        sent = await flood(harness, FLOOD_REQUESTS)
        await flush_delayed_writes(hass)

    assert sum(sent.values()) == FLOOD_REQUESTS
    assert len(hass.data[DATA_DOMAIN].pending_logins) <= CAP
    # One address holds at most PER_SOURCE_CAP waiting cross-device logins.
    assert len(hass.data[DATA_DOMAIN].device_logins) <= PER_SOURCE_CAP
    assert saved == []
    assert config_dir_snapshot(hass) == files_before
    after = await harness.side_effects()
    assert after.durable == users_before.durable
    assert not harness.issued_codes
    # Starting logins costs the provider nothing: discovery stays cached.
    assert harness.provider.requests["discovery"] <= 2
    assert harness.provider.requests["authorize"] == 0
    print(f"\nflood: {sum(sent.values())} requests {dict(sent)}")


async def test_legitimate_login_works_during_and_after_a_flood(
    harness: Harness, provider: FakeProvider
) -> None:
    # During: a login started, then a flood from the same address with fewer new pending
    # logins than one address may hold (floods from other addresses: the test below).
    query = await harness.start_at_provider()
    sent = await flood(harness, (PENDING_LOGINS_PER_ADDRESS - 2) * len(flood_requests()))
    assert 0 < sent["start"] < PENDING_LOGINS_PER_ADDRESS
    response = await harness.callback(query)
    assert response.status == 302, await response.text()
    await harness.redeem(response.headers["Location"])
    # After: a flood of starts far past the cap, then a fresh login.
    await flood(harness, 4 * CAP, kinds={"start", "callback"})
    await harness.login_ok()


async def test_flood_for_a_registering_client_keeps_state_bounded_and_its_login_working(
    harness: Harness, registered_client: ClientApp
) -> None:
    # The client's page is really fetched (each request: a fetch, so a smaller flood).
    client_id = registered_client.client_id
    registered = registered_client_query(registered_client)
    unregistered = {**registered, "redirect_uri": "https://app.example.org/elsewhere"}

    async def welcome(params: dict[str, str]) -> int:
        response = await harness.client.get("/auth/oidc/welcome", params=params)
        await response.read()
        return response.status

    async def start() -> int:
        response = await harness.start(client_id=client_id, redirect_uri=REGISTERED_REDIRECT_URI)
        await response.read()
        return response.status

    with storage_writes() as saved:
        for _ in range(4):
            statuses = await asyncio.gather(
                *(welcome(registered) for _ in range(CONCURRENCY)),
                *(welcome(unregistered) for _ in range(CONCURRENCY)),
                *(start() for _ in range(CONCURRENCY)),
            )
            assert statuses == [200] * CONCURRENCY + [400] * CONCURRENCY + [302] * CONCURRENCY
            assert len(harness.hass.data[DATA_DOMAIN].pending_logins) <= CAP
        await flush_delayed_writes(harness.hass)
    assert saved == []
    assert not harness.issued_codes
    # After the flood, the client's login ends at its registered redirect_uri.
    response = await harness.login(client_id=client_id, redirect_uri=REGISTERED_REDIRECT_URI)
    assert response.status == 302, await response.text()
    assert response.headers["Location"].startswith(REGISTERED_REDIRECT_URI + "?code=")


async def test_expired_pending_logins_are_dropped(harness: Harness) -> None:
    clock = FakeClock(now=0.0)
    store = PendingLoginStore(cap=CAP, ttl=600, clock=clock)
    harness.hass.data[DATA_DOMAIN].pending_logins = store
    await flood(harness, 10, kinds={"start"})
    assert len(store) == 10
    clock.now = 601.0
    await flood(harness, 1, kinds={"start"})
    assert len(store) == 1


async def test_a_flood_from_one_address_does_not_evict_another_addresss_login(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    proxies = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"], **NO_BAN}
    harness = await setup_harness(hass, hass_client_no_auth, provider, http=proxies)
    hass.data[DATA_DOMAIN].pending_logins = PendingLoginStore(cap=CAP)
    victim = {"X-Forwarded-For": "198.51.100.7"}
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    query = await harness.start_at_provider(headers=victim)
    for _ in range(CAP + 5):
        assert (await harness.start(headers=attacker)).status == 302
    response = await harness.callback(query, headers=victim)
    assert response.status == 302, await response.text()


async def test_a_flood_from_one_ipv6_network_does_not_evict_another_addresss_login(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    # Issue #14.5: every address of one /64 is one source, whatever its last 64 bits.
    proxies = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"], **NO_BAN}
    harness = await setup_harness(hass, hass_client_no_auth, provider, http=proxies)
    hass.data[DATA_DOMAIN].pending_logins = PendingLoginStore(cap=CAP)
    victim = {"X-Forwarded-For": "2001:db8:1::7"}
    query = await harness.start_at_provider(headers=victim)
    for index in range(CAP + 5):
        attacker = {"X-Forwarded-For": f"2001:db8:2::{index + 1:x}"}
        assert (await harness.start(headers=attacker)).status == 302
    response = await harness.callback(query, headers=victim)
    assert response.status == 302, await response.text()


async def test_failing_discovery_is_not_refetched_for_every_request(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    provider.status["discovery"] = 503
    harness = await setup_harness(hass, hass_client_no_auth, provider, http=NO_BAN)
    await hass.async_block_till_done()
    fetched = provider.requests["discovery"]
    for _ in range(25):
        await harness.client.get("/auth/oidc/welcome", params=authorize_query())
        await harness.start()
    assert provider.requests["discovery"] - fetched <= 5


class _CountingSpool:
    """Stands in for aiohttp's SpooledTemporaryFile and counts what it is asked to buffer."""

    created: int = 0

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        import tempfile  # noqa: PLC0415

        cls.created += 1
        return tempfile.SpooledTemporaryFile(*args, **kwargs)


async def test_uploads_are_refused_before_they_are_buffered(harness: Harness) -> None:
    _CountingSpool.created = 0
    form = aiohttp.FormData()
    form.add_field("client_id", "https://ha.example.com/")
    form.add_field("upload", b"x" * 2048, filename="big.bin")
    with patch("aiohttp.web_request.SpooledTemporaryFile", _CountingSpool):
        response = await harness.client.post("/auth/oidc/redirect", data=form)
    assert response.status in (400, 415)
    assert _CountingSpool.created == 0


async def test_cross_device_pages_from_one_address_render_a_bounded_number_of_qr_codes(
    harness: Harness,
) -> None:
    rendered: list[str] = []

    def counting_qr_svg(data: str) -> bytes:
        rendered.append(data)
        return qr_svg(data)

    statuses: Counter[int] = Counter()
    with patch("custom_components.auth_oidc.device_views.qr_svg", counting_qr_svg):
        for _ in range(3 * PER_SOURCE_CAP):
            # A bot that keeps the cookie and fetches each page's QR code, twice.
            response = await harness.client.get(
                "/auth/oidc/welcome", params=authorize_query(device_login="true")
            )
            statuses[response.status] += 1
            if found := re.search(r'<img src="([^"]+)"', await response.text()):
                for _ in range(2):
                    assert (await harness.client.get(html.unescape(found[1]))).status == 200
    # Each login's QR code is rendered once, and one address starts only a few logins.
    assert statuses == {200: CREATIONS_PER_SOURCE, 429: 3 * PER_SOURCE_CAP - CREATIONS_PER_SOURCE}
    assert len(rendered) == len(set(rendered)) == CREATIONS_PER_SOURCE
