"""Benchmark the access re-check: time and CPU per round, event-loop lag, sealing cost.

Runs an in-process Home Assistant (pytest-homeassistant-custom-component's test instance,
storage in memory) with the integration set up against the in-process FakeProvider (ES256,
so every refresh signs a new ID token in this same process), `features.recheck_access` on:

    .venv/bin/python scripts/bench_access_recheck.py [--users 500] [--rounds 10]
        [--provider-latency 0.05]

Each user gets a Home Assistant session and a kept provider refresh token; then rounds run
one after the other (each checks at most MAX_CHECKS_PER_CYCLE users). A ticker task sleeping
5 ms measures how late the event loop lets it run, the figure behind "no re-check ever
blocks the event loop". Prints the figures; asserts nothing.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant import loader  # noqa: E402
from homeassistant.helpers import frame  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    async_test_home_assistant,
    mock_storage,
)

from custom_components.auth_oidc.access_recheck import (  # noqa: E402
    CONCURRENT_CHECKS,
    MAX_CHECKS_PER_CYCLE,
)
from custom_components.auth_oidc.provider_tokens import ProviderTokenStore  # noqa: E402
from tests.fake_provider import FakeProvider  # noqa: E402
from tests.login_driver import CLIENT_ID, ONBOARDING, USER, setup_harness  # noqa: E402

TICK: float = 0.005


async def seal_cost(hass: Any, count: int = 10_000) -> tuple[float, float]:
    """Return µs per seal and per open of a refresh token (AES-256-GCM), saves excluded."""
    store = ProviderTokenStore(hass)
    with patch.object(ProviderTokenStore, "_async_save", AsyncMock()):
        await store.async_keep("bench", "warm-up", "x" * 43)
        started = time.perf_counter()
        for index in range(count):
            await store.async_keep("bench", f"user-{index % 100}", "r" * 43)
        sealed = time.perf_counter() - started
        started = time.perf_counter()
        for index in range(count):
            await store.async_token("bench", f"user-{index % 100}")
        opened = time.perf_counter() - started
    return sealed / count * 1e6, opened / count * 1e6


async def bench(users: int, rounds: int, latency: float) -> None:
    """Set up Home Assistant, give `users` users a session and a kept token, run `rounds`."""
    with (
        tempfile.TemporaryDirectory() as config_dir,
        mock_storage({"onboarding": ONBOARDING}),
        patch("homeassistant.components.http.HomeAssistantHTTP.async_bind"),
        patch("homeassistant.components.http.HomeAssistantHTTP.start"),
    ):
        async with (
            async_test_home_assistant(config_dir=config_dir) as hass,
            FakeProvider.running(alg="ES256") as fake,
        ):
            frame.async_setup(hass)
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            fake.user = dict(USER)
            if latency:
                fake.response_delay["token"] = latency

            async def no_client() -> None:
                return None

            harness = await setup_harness(
                hass,
                no_client,  # type: ignore[arg-type]
                fake,
                features={"recheck_access": True},
            )
            recheck = harness.entry.runtime_data.access_recheck
            if recheck is None:
                raise RuntimeError("the access re-check was not set up")
            provider = harness.entry.runtime_data.provider
            for index in range(users):
                subject = f"user-{index}"
                credentials = provider.async_create_credentials({"sub": subject, "role": "user"})
                user = await hass.auth.async_get_or_create_user(credentials)
                await hass.auth.async_create_refresh_token(user, CLIENT_ID, credential=credentials)
                await recheck.tokens.async_keep(
                    harness.entry_id, subject, fake.issue_refresh_token(subject)
                )

            lags: list[float] = []
            running = True

            async def ticker() -> None:
                while running:
                    before = time.perf_counter()
                    await asyncio.sleep(TICK)
                    lags.append(time.perf_counter() - before - TICK)

            ticking = asyncio.create_task(ticker())
            walls: list[float] = []
            cpus: list[float] = []
            checked = 0
            for _ in range(rounds):
                wall, cpu = time.perf_counter(), time.process_time()
                outcomes = await recheck.async_run_cycle()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                checked += sum(outcomes.values())
            running = False
            await ticking
            per_round = checked / rounds
            sealed, opened = await seal_cost(hass)
            print(
                f"users              {users} with a session and a kept token; "
                f"{MAX_CHECKS_PER_CYCLE} per round, {CONCURRENT_CHECKS} at a time"
            )
            print(f"provider latency   {latency * 1000:.0f} ms per token request (simulated)")
            print(f"rounds             {rounds}, {per_round:.0f} users checked per round")
            print(
                f"round wall time    median {statistics.median(walls) * 1000:.0f} ms, "
                f"max {max(walls) * 1000:.0f} ms"
            )
            print(
                f"CPU per check      {statistics.median(cpus) / per_round * 1000:.2f} ms "
                "(Home Assistant and the in-process provider together)"
            )
            print(
                f"event-loop lag     median {statistics.median(lags) * 1000:.2f} ms, "
                f"p99 {statistics.quantiles(lags, n=100, method='inclusive')[98] * 1000:.2f} ms, "
                f"max {max(lags) * 1000:.2f} ms over {len(lags)} ticks of {TICK * 1000:.0f} ms"
            )
            print(f"seal / open        {sealed:.1f} µs / {opened:.1f} µs per token")
            await hass.async_stop(force=True)


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--provider-latency", type=float, default=0.0)
    arguments = parser.parse_args()
    asyncio.run(bench(arguments.users, arguments.rounds, arguments.provider_latency))


if __name__ == "__main__":
    main()
