"""Benchmark an unauthenticated flood of the login endpoints: memory, requests/s, pending store.

Runs an in-process Home Assistant (pytest-homeassistant-custom-component's test instance,
storage in memory, a temporary config directory) with the integration set up against the
in-process FakeProvider, serves it on 127.0.0.1 and sends the flood over real TCP:

    .venv/bin/python scripts/bench_flood.py [--requests 100000] [--concurrency 64]
        [--tracemalloc 10000] [--kinds device-wait ...]

The mix is tests/login_driver.py's flood_requests(): Home Assistant's login page
(intercepted), the provider list, valid and invalid welcome pages, valid and invalid login
starts, callbacks with forged state, the stylesheet, cross-device waiting pages (a code and
a QR code each) and wrong cross-device codes; `--kinds` picks some. The stores keep their
production caps. Prints requests/s, RSS growth, the pending-store size and the storage
writes of the flood; `--tracemalloc N` then traces the Python heap over N more requests
(tracing is about ten times slower) and prints its growth and top allocation sites.

The client side is a plain aiohttp session: aiohttp's TestClient keeps every response until
it is closed, which would be measured as growth.
"""

import argparse
import asyncio
import gc
import html
import logging
import re
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from unittest.mock import AsyncMock, patch

import aiohttp
import aiohttp.abc
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant import loader  # noqa: E402
from homeassistant.auth.providers import homeassistant as hass_auth_provider  # noqa: E402
from homeassistant.helpers import frame  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    async_test_home_assistant,
    mock_storage,
)

from custom_components.auth_oidc.const import WELCOME_PATH  # noqa: E402
from custom_components.auth_oidc.device_login import (  # noqa: E402
    CREATIONS_PER_SOURCE,
    DeviceLoginStore,
)
from custom_components.auth_oidc.runtime import DATA_DOMAIN  # noqa: E402
from tests.fake_provider import FakeProvider  # noqa: E402
from tests.login_driver import (  # noqa: E402
    EXPECTED_FLOOD_STATUS,
    ONBOARDING,
    USER,
    Harness,
    authorize_query,
    flood_requests,
    setup_harness,
    storage_writes,
)


class FloodClient:
    """The part of aiohttp's TestClient the harness uses, without keeping responses."""

    def __init__(self, server: TestServer, concurrency: int) -> None:
        """Talk to `server` with up to `concurrency` connections, keeping cookies."""
        self.server = server
        self.concurrency = concurrency
        self.session = self._session(aiohttp.CookieJar(unsafe=True))

    def _session(self, cookie_jar: aiohttp.abc.AbstractCookieJar) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            base_url=str(self.server.make_url("/")),
            connector=aiohttp.TCPConnector(limit=self.concurrency),
            cookie_jar=cookie_jar,
        )

    async def forget_cookies(self) -> None:
        """Continue like a flooding bot: without a cookie jar (it would grow on our side)."""
        await self.session.close()
        self.session = self._session(aiohttp.DummyCookieJar())

    def make_url(self, path: str) -> Any:
        """Return the absolute URL of a path on the server."""
        return self.server.make_url(path)

    async def get(self, path: str, **options: Any) -> aiohttp.ClientResponse:
        """Send a GET request."""
        return await self.session.get(path, **options)

    async def post(self, path: str, **options: Any) -> aiohttp.ClientResponse:
        """Send a POST request."""
        return await self.session.post(path, **options)


class _FormattingNullHandler(logging.Handler):
    """Format every record like a real handler would, then drop it (no memory growth)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


def rss_kib() -> int:
    """Return the current resident set size in KiB (Linux), else the peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass(frozen=True)
class Options:
    """What to measure."""

    requests: int
    concurrency: int
    traced: int
    kinds: frozenset[str] = frozenset()
    waiting_page_cpu: int = 300


async def run_flood(harness: Harness, total: int, options: Options) -> tuple[Counter[str], float]:
    """Send `total` requests with `options.concurrency` workers; return statuses and seconds."""
    concurrency = options.concurrency
    senders = [
        sender for sender in flood_requests() if not options.kinds or sender[0] in options.kinds
    ]
    counts: Counter[str] = Counter()
    next_index = 0
    store = harness.hass.data[DATA_DOMAIN].pending_logins
    max_pending = 0

    async def worker() -> None:
        nonlocal next_index, max_pending
        while next_index < total:
            name, send = senders[next_index % len(senders)]
            next_index += 1
            status = await send(harness)
            expected = status in EXPECTED_FLOOD_STATUS[name]
            counts[name if expected else f"{name} unexpected {status}"] += 1
            max_pending = max(max_pending, len(store))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    counts["max pending"] = max_pending
    return counts, elapsed


def _expect(condition: bool, what: str) -> None:
    """Stop the benchmark when a response is not what the measurement assumes."""
    if not condition:
        raise RuntimeError(f"unexpected response: {what}")


async def _cpu_per_request(send: Any, count: int) -> float:
    """Return the process CPU time per request, in ms, of `count` sequential requests."""
    started = time.process_time()
    for _ in range(count):
        await send()
    return (time.process_time() - started) / count * 1000


async def waiting_page_cpu(harness: Harness, count: int = 300) -> dict[str, float]:
    """Measure the CPU cost of unauthenticated cross-device waiting pages (issue #12 target 5).

    Requests go one at a time over loopback; server and client share this process, so every
    figure includes the client's share, and a static file shows that floor. Returns ms per
    request by kind and prints them.
    """
    hass = harness.hass
    domain = hass.data[DATA_DOMAIN]
    client = cast(FloodClient, harness.client)
    query = {**authorize_query(), "device_login": "true"}
    kept = domain.device_logins
    # Unlimited creations from this one address, to measure a page that creates a login.
    domain.device_logins = DeviceLoginStore(creations_per_source=10**9, creations_per_network=10**9)

    async def get(path: str, **options: Any) -> int:
        response = await client.session.get(path, allow_redirects=False, **options)
        await response.read()
        return response.status

    async def new_login() -> None:
        _expect(await get(WELCOME_PATH, params=query) == 200, "waiting page")

    async def huge_host() -> None:
        # issue #14 §3: a 2 KB Host header once made a version-37 QR code per request.
        status = await get(WELCOME_PATH, params=query, headers={"Host": "a" * 2000})
        _expect(status == 400, "waiting page with a 2 KB Host")

    async def static() -> None:
        _expect(await get("/auth/oidc/static/login.css") == 200, "static file")

    async def with_qr_code() -> None:
        # The waiting page's own browser: the page, then its QR code (rendered once per login).
        async with aiohttp.ClientSession(
            base_url=str(client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as browser:
            page = await browser.get(WELCOME_PATH, params=query)
            qr_url = re.search(r'<img src="([^"]+)"', await page.text())
            _expect(qr_url is not None, "waiting page without QR code")
            qr_code = await browser.get(html.unescape(qr_url[1] if qr_url else ""))
            _expect(qr_code.status == 200, "QR code")
            await qr_code.read()

    figures: dict[str, float] = {}
    try:
        for _ in range(2):  # warm-up round, then the measured one
            figures = {
                "static file (floor)": await _cpu_per_request(static, count),
                "waiting page, new login": await _cpu_per_request(new_login, count),
                "waiting page, 2 KB Host": await _cpu_per_request(huge_host, count),
                "page + its QR code": await _cpu_per_request(with_qr_code, max(10, count // 10)),
            }
        domain.device_logins = DeviceLoginStore()  # the real limits
        await _cpu_per_request(new_login, CREATIONS_PER_SOURCE)
        figures["waiting page, over the limit"] = await _cpu_per_request(
            lambda: get(WELCOME_PATH, params=query), count
        )
    finally:
        domain.device_logins = kept
    for name, value in figures.items():
        print(f"cpu {name:<29} {value:6.2f} ms/request")
    return figures


async def bench(options: Options) -> None:
    """Set up Home Assistant with the integration and measure the flood."""
    with (
        tempfile.TemporaryDirectory() as config_dir,
        mock_storage({"onboarding": ONBOARDING}),
        patch(
            "homeassistant.components.auth.indieauth.fetch_redirect_uris",
            AsyncMock(return_value=[]),
        ),
        # Like the tests: Home Assistant's own server must not bind port 8123; the flood goes
        # to an aiohttp test server on a free loopback port instead.
        patch("homeassistant.components.http.HomeAssistantHTTP.async_bind"),
        patch("homeassistant.components.http.HomeAssistantHTTP.start"),
    ):
        async with (
            async_test_home_assistant(config_dir=config_dir) as hass,
            FakeProvider.running(alg="ES256") as provider,
        ):
            frame.async_setup(hass)
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            local = hass_auth_provider.HassAuthProvider(
                hass, hass.auth._store, {"type": "homeassistant"}
            )
            await local.async_initialize()
            hass.auth._providers[(local.type, local.id)] = local
            provider.user = dict(USER)
            clients: list[FloodClient] = []

            async def client_factory() -> Any:
                # Called by setup_harness once http is set up.
                server = TestServer(hass.http.app)
                await server.start_server()
                clients.append(FloodClient(server, options.concurrency))
                return clients[0]

            harness = await setup_harness(
                hass,
                client_factory,
                provider,
                http={"login_attempts_threshold": -1},
                frontend=True,
            )
            try:
                await report(harness, options)
            finally:
                for client in clients:
                    await client.session.close()
                    await client.server.close()
                await hass.async_stop(force=True)


async def report(harness: Harness, options: Options) -> None:
    """Warm up, flood, and print the figures."""
    hass, provider = harness.hass, harness.provider
    await harness.login_ok()  # one real login: every code path imported and warmed
    await cast(FloodClient, harness.client).forget_cookies()
    if options.waiting_page_cpu:
        await waiting_page_cpu(harness, options.waiting_page_cpu)
    warm_up = min(5000, options.requests // 10)
    await run_flood(harness, warm_up, options)
    await asyncio.sleep(2)  # let delayed storage writes of the set-up and the login happen
    gc.collect()
    rss_before = rss_kib()
    discovery_before = provider.requests["discovery"]

    with storage_writes() as saved:
        counts, elapsed = await run_flood(harness, options.requests, options)
        await asyncio.sleep(2)

    gc.collect()
    rss_after = rss_kib()
    store = hass.data[DATA_DOMAIN].pending_logins
    max_pending = counts.pop("max pending")
    print(
        f"requests           {options.requests} ({options.concurrency} concurrent), "
        f"after a warm-up of {warm_up}"
    )
    print(f"elapsed            {elapsed:.1f} s")
    print(f"throughput         {options.requests / elapsed:.0f} requests/s")
    print(
        f"RSS                {rss_before / 1024:.1f} MiB -> {rss_after / 1024:.1f} MiB "
        f"({(rss_after - rss_before) / 1024:+.1f} MiB)"
    )
    print(
        f"pending logins     {len(store)} at the end, at most {max_pending} "
        f"(cap {getattr(store, '_cap', '?')})"
    )
    print(f"discovery fetches  {provider.requests['discovery'] - discovery_before} in the flood")
    print(f"provider authorize {provider.requests['authorize']} (the warm-up login only)")
    print(f"storage writes     {sorted(set(saved)) or 'none'}")
    print("responses          " + ", ".join(f"{name}: {n}" for name, n in sorted(counts.items())))
    if options.traced:
        await trace_heap(harness, options)


async def trace_heap(harness: Harness, options: Options) -> None:
    """Trace the heap over two equal floods; a bounded server shows no growth in the second."""
    half = options.traced // 2
    tracemalloc.start(10)
    start = tracemalloc.take_snapshot()
    _, first_elapsed = await run_flood(harness, half, options)
    gc.collect()
    middle = tracemalloc.take_snapshot()
    _, second_elapsed = await run_flood(harness, half, options)
    gc.collect()
    end = tracemalloc.take_snapshot()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    first = middle.compare_to(start, "filename")
    second = end.compare_to(middle, "filename")
    rate = 2 * half / (first_elapsed + second_elapsed)
    print(
        f"tracemalloc        2 x {half} more requests ({rate:.0f}/s traced), peak "
        f"{peak / 1024 / 1024:.1f} MiB: first half {sum(s.size_diff for s in first) / 1024:+.1f} "
        f"KiB (replaces the untraced store and fills caches), second half "
        f"{sum(s.size_diff for s in second) / 1024:+.1f} KiB"
    )
    root = str(ROOT)
    for stat in second[:6]:
        filename = stat.traceback[0].filename.replace(root, ".")
        print(f"  second half {stat.size_diff / 1024:+9.1f} KiB  {filename}")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="N", help="trace the heap over N more"
    )
    names = [name for name, _ in flood_requests()]
    parser.add_argument(
        "--kinds", nargs="+", choices=names, default=[], help="only these requests (default all)"
    )
    parser.add_argument(
        "--waiting-page-cpu",
        type=int,
        default=300,
        metavar="N",
        help="first measure CPU per cross-device waiting page over N requests (0: skip)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, handlers=[_FormattingNullHandler()])
    asyncio.run(
        bench(
            Options(
                args.requests,
                args.concurrency,
                args.tracemalloc,
                frozenset(args.kinds),
                args.waiting_page_cpu,
            )
        )
    )


if __name__ == "__main__":
    main()
