"""Measure the performance targets of issue #12 and print them as one table.

Run through `scripts/bench` (which runs scripts/setup first). What it does, in order:

1. Starts a scripted OpenID Provider (tests/fake_provider.py) in a process of its own on
   127.0.0.1, timing its token endpoint, and a real `hass` process (tests/e2e/hass_process.py)
   with the integration configured in YAML and a bench-only probe component
   (tools/bench_component/auth_oidc_bench) that times every /auth/oidc/ request inside Home
   Assistant, around the view alone.
2. Logs in `--logins` times one after another like a browser without script (welcome page,
   start, provider, callback, up to the redirect with Home Assistant's code). Home Assistant
   time per login = time inside our three handlers minus the provider's own time answering the
   token request (the loopback round trip stays on Home Assistant's side: an upper bound).
   Counts the back-channel requests each login sent to the provider.
3. Throughput: `--clients` concurrent browsers log in for `--seconds`; logins/s per second.
4. Set-up: unloads and sets the config entry up `--setups` times, with the provider answering
   and with the provider hanging (accepting requests and never answering).
5. ID token validation per algorithm in this process, and the first validation after a key
   rotation (a JWKS refetch over loopback).
6. The unauthenticated flood of scripts/bench_flood.py (in-process Home Assistant, see there),
   in a process of its own so that its memory growth is its own.
"""

import argparse
import asyncio
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from custom_components.auth_oidc.oidc import ClientSettings, OIDCClient  # noqa: E402
from custom_components.auth_oidc.oidc.id_token import validate_id_token  # noqa: E402
from custom_components.auth_oidc.oidc.jwks import JWKSCache  # noqa: E402
from custom_components.auth_oidc.oidc.pkce import code_challenge_s256  # noqa: E402
from tests.e2e.hass_process import HassInstance  # noqa: E402
from tests.e2e.support import free_port  # noqa: E402
from tests.fake_provider import PATHS, FakeProvider  # noqa: E402

BENCH_COMPONENT = ROOT / "tools" / "bench_component" / "auth_oidc_bench"
BACK_CHANNEL = ("discovery", "jwks", "token", "userinfo")
VERIFIER = "bench-verifier-" + "v" * 43
HANDLER_PATHS = ("/auth/oidc/welcome", "/auth/oidc/redirect", "/auth/oidc/callback")
_ENTRY_ID = re.compile(r'name="entry_id" value="([^"]+)"')


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    figure: str
    target: str
    values: Sequence[float]
    unit: str
    note: str = ""


# -- the scripted provider, in a process of its own ------------------------------------------


async def serve_provider(alg: str) -> None:
    """Serve FakeProvider on a free loopback port, print the port, run until killed."""
    provider = FakeProvider(alg=alg)
    token_seconds: list[float] = []

    @web.middleware
    async def time_token(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            if request.path == PATHS["token"]:
                token_seconds.append(time.perf_counter() - started)

    async def stats(request: web.Request) -> web.Response:
        snapshot = {"requests": dict(provider.requests), "token_seconds": list(token_seconds)}
        token_seconds.clear()
        return web.json_response(snapshot)

    async def hang(request: web.Request) -> web.Response:
        hanging = request.query.get("on") == "1"
        provider.response_delay = {"discovery": 3600, "jwks": 3600} if hanging else {}
        return web.json_response({"hanging": hanging})

    app = provider.app()
    app.middlewares.append(time_token)
    app.router.add_get("/bench/stats", stats)
    app.router.add_post("/bench/hang", hang)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    provider.issuer = f"http://127.0.0.1:{port}"
    # Keep the signing keys ready: generating them is no part of any login.
    provider.jwks_document()
    print(port, flush=True)
    await asyncio.Event().wait()


def start_provider(alg: str) -> tuple[subprocess.Popen[str], str]:
    """Start the provider process; return it and its base URL."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-provider", alg],
        stdout=subprocess.PIPE,
        text=True,
    )
    if process.stdout is None:
        raise RuntimeError("no pipe from the provider process")
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


# -- a browser without script ------------------------------------------------------------------


class Browser:
    """Log in through the welcome page, like Home Assistant's frontend does."""

    def __init__(self, session: aiohttp.ClientSession, hass_url: str) -> None:
        """Use `session` (its own cookie jar) against Home Assistant at `hass_url`."""
        self.session = session
        self.hass_url = hass_url
        self.query = {
            "response_type": "code",
            "client_id": f"{hass_url}/",
            "redirect_uri": f"{hass_url}/?auth_callback=1",
            "state": "bench-client-state",
            "code_challenge": code_challenge_s256(VERIFIER),
            "code_challenge_method": "S256",
        }

    async def login(self) -> None:
        """Log in once, up to the redirect with Home Assistant's code; raise on any surprise."""
        session = self.session
        async with session.get(f"{self.hass_url}/auth/oidc/welcome", params=self.query) as page:
            text = await page.text()
            if page.status != 200 or not (match := _ENTRY_ID.search(text)):
                raise RuntimeError(f"welcome page: HTTP {page.status}")
        form = {**self.query, "entry_id": match.group(1)}
        async with session.post(
            f"{self.hass_url}/auth/oidc/redirect", data=form, allow_redirects=False
        ) as start:
            await start.read()
            if start.status != 302:
                raise RuntimeError(f"start: HTTP {start.status}")
            at_provider = start.headers["Location"]
        async with session.get(at_provider, allow_redirects=False) as authorize:
            await authorize.read()
            callback = authorize.headers["Location"]
        async with session.get(callback, allow_redirects=False) as done:
            await done.read()
            location = done.headers.get("Location", "")
            if done.status != 302 or not location.startswith(self.query["redirect_uri"]):
                raise RuntimeError(f"callback: HTTP {done.status}")
        # A browser keeps no binding cookie after the login; neither does this one.
        session.cookie_jar.clear()


# -- figures from the real Home Assistant ------------------------------------------------------


async def _json(session: aiohttp.ClientSession, method: str, url: str) -> Any:
    async with session.request(method, url) as response:
        response.raise_for_status()
        return await response.json()


async def measure_logins(
    hass_url: str, provider_url: str, options: argparse.Namespace
) -> list[Row]:
    """Home Assistant time and provider requests per login (sequential logins)."""
    async with (
        aiohttp.ClientSession() as control,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
    ):
        browser = Browser(session, hass_url)
        for _ in range(options.warm_up):
            await browser.login()
        await _json(control, "GET", f"{hass_url}/api/auth_oidc_bench/timings")
        before = await _json(control, "GET", f"{provider_url}/bench/stats")
        for _ in range(options.logins):
            await browser.login()
        timings = await _json(control, "GET", f"{hass_url}/api/auth_oidc_bench/timings")
        after = await _json(control, "GET", f"{provider_url}/bench/stats")
    token_seconds = after["token_seconds"]
    wall = [timings.get(path, []) for path in HANDLER_PATHS]
    cpu = [timings.get(f"{path} cpu", []) for path in HANDLER_PATHS]
    if any(len(values) != options.logins for values in (*wall, *cpu, token_seconds)):
        raise RuntimeError("timings do not line up with the logins")
    logins = range(options.logins)
    cpu_per_login = [sum(values[i] for values in cpu) for i in logins]
    wall_per_login = [sum(values[i] for values in wall) - token_seconds[i] for i in logins]
    calls = Counter(after["requests"])
    calls.subtract(before["requests"])
    back_channel = {name: calls[name] / options.logins for name in BACK_CHANNEL}
    ms = 1000.0
    return [
        Row(
            "HA CPU per login, our 3 handlers",
            "<= 3 ms",
            [value * ms for value in cpu_per_login],
            "ms",
            "event loop thread's CPU time inside the handlers",
        ),
        *(
            Row(f"  of which {path.rsplit('/', 1)[1]}", "", [v * ms for v in values], "ms")
            for path, values in zip(HANDLER_PATHS, cpu, strict=True)
        ),
        Row(
            "HA wall time per login, our 3 handlers",
            "",
            [value * ms for value in wall_per_login],
            "ms",
            "provider's own token time subtracted",
        ),
        Row(
            "  provider's token endpoint",
            "",
            [value * ms for value in token_seconds],
            "ms",
            "subtracted above",
        ),
        Row(
            "provider requests per login",
            "1",
            [sum(back_channel.values())],
            "",
            ", ".join(f"{name} {value:g}" for name, value in back_channel.items()),
        ),
    ]


def process_cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_throughput(
    hass_url: str, hass_pid: int, options: argparse.Namespace
) -> list[Row]:
    """Complete logins per second with `options.clients` concurrent browsers."""
    completed: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + options.seconds

    async def browse(index: int) -> None:
        # Each browser from an address of its own (127.0.1.x): like the households they stand
        # for, and the pending-login store caps logins per address.
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(f"127.0.1.{index + 1}", 0)),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
        ) as session:
            browser = Browser(session, hass_url)
            while time.monotonic() < deadline:
                try:
                    await browser.login()
                except (RuntimeError, aiohttp.ClientError, KeyError) as err:
                    errors[str(err)] += 1
                    session.cookie_jar.clear()
                else:
                    completed.append(time.monotonic())

    started, hass_cpu_before = time.monotonic(), process_cpu_seconds(hass_pid)
    await asyncio.gather(*(browse(index) for index in range(options.clients)))
    hass_cpu = process_cpu_seconds(hass_pid) - hass_cpu_before
    per_second = Counter(int(at - started) for at in completed)
    # Whole seconds only: the last one is cut short by the deadline.
    rates = [float(per_second[second]) for second in range(int(options.seconds))]
    note = f"{len(completed)} logins, {sum(errors.values())} errors"
    if errors:
        note += f" ({errors.most_common(1)[0][0]})"
    return [
        Row(
            f"throughput, {options.clients} clients x {options.seconds:g} s",
            ">= 200/s, 0 errors",
            rates,
            "logins/s",
            note,
        ),
        Row(
            "  hass process CPU per login",
            "",
            [hass_cpu / max(len(completed), 1) * 1000],
            "ms",
            "all of Home Assistant (HTTP server included) over the run; 1000 / this = "
            "logins/s on one free core",
        ),
    ]


async def measure_setup(hass_url: str, provider_url: str, options: argparse.Namespace) -> list[Row]:
    """Time the config entry's set-up with the provider hanging, then answering."""
    rows: list[Row] = []
    async with aiohttp.ClientSession() as control:
        for state in ("hanging", "up"):
            await _json(control, "POST", f"{provider_url}/bench/hang?on={int(state == 'hanging')}")
            result = await _json(
                control, "POST", f"{hass_url}/api/auth_oidc_bench/setup?repeat={options.setups}"
            )
            rows.append(
                Row(
                    f"set-up, provider {state}",
                    "<= 10 ms",
                    [value * 1000 for value in result["entry_setup"]],
                    "ms",
                    "Home Assistant's config entry set-up, ours included",
                )
            )
            rows.append(
                Row(
                    "  of which async_setup_entry",
                    "",
                    [value * 1000 for value in result["async_setup_entry"]],
                    "ms",
                )
            )
    return rows


def hass_yaml(provider_url: str, provider: FakeProvider) -> str:
    """Return the YAML that configures the integration and the probes."""
    return (
        "auth_oidc:\n"
        f"  client_id: {provider.client_id}\n"
        f"  client_secret: {provider.client_secret}\n"
        f"  discovery_url: {provider_url}{PATHS['discovery']}\n"
        "  display_name: Bench ID\n"
        "auth_oidc_bench:\n"
    )


def measure_hass(options: argparse.Namespace, work_dir: Path) -> list[Row]:
    """Run the real Home Assistant and the provider process, and measure."""
    provider_process, provider_url = start_provider(options.alg)
    try:
        hass = HassInstance(
            work_dir / "config",
            free_port(),
            with_integration=True,
            extra_yaml=hass_yaml(provider_url, FakeProvider()),
            log_levels={},
        )
        hass.write_config()
        (hass.config_dir / "custom_components" / BENCH_COMPONENT.name).symlink_to(
            BENCH_COMPONENT, target_is_directory=True
        )
        hass.start()
        if hass._proc is None:  # the harness keeps its process private
            raise RuntimeError("hass did not start")
        hass_pid = hass._proc.pid
        try:

            async def measure() -> list[Row]:
                rows = await measure_logins(hass.url, provider_url, options)
                if options.seconds:
                    rows += await measure_throughput(hass.url, hass_pid, options)
                if options.setups:
                    rows += await measure_setup(hass.url, provider_url, options)
                return rows

            return asyncio.run(measure())
        except BaseException:
            print(f"hass log tail:\n{hass.log_tail(40)}", file=sys.stderr)
            raise
        finally:
            hass.stop()
    finally:
        provider_process.terminate()
        provider_process.wait()


# -- ID token validation, in this process ------------------------------------------------------


async def measure_id_tokens(options: argparse.Namespace) -> list[Row]:
    """Microseconds per ID token validation per algorithm, and after a key rotation."""
    rows: list[Row] = []
    nonce = "bench-nonce-0123456789"
    access_token = "bench-access-token"  # noqa: S105 - a made-up token
    for alg in ("RS256", "ES256", "EdDSA"):
        async with FakeProvider.running(alg=alg) as provider, aiohttp.ClientSession() as session:
            client = OIDCClient(
                session,
                provider.discovery_url,
                ClientSettings(client_id=provider.client_id, allow_insecure_http=True),
            )
            metadata = await client.metadata()
            jwks = JWKSCache(
                session, metadata.jwks_uri, min_refetch_interval=0, allow_insecure_http=True
            )

            async def validate(
                token: str,
                jwks: JWKSCache = jwks,
                metadata: Any = metadata,
                settings: ClientSettings = client.settings,
            ) -> tuple[float, float]:
                started, cpu_started = time.perf_counter(), time.thread_time()
                await validate_id_token(
                    token,
                    jwks=jwks,
                    metadata=metadata,
                    settings=settings,
                    expected_nonce=nonce,
                    now=time.time(),
                    access_token=access_token,
                )
                return time.perf_counter() - started, time.thread_time() - cpu_started

            token = provider.mint_id_token(nonce=nonce, access_token=access_token)
            await validate(token)
            # CPU time: a validation with cached keys never waits, and CPU time ignores the
            # machine's other load.
            steady = [(await validate(token))[1] for _ in range(options.validations)]
            rotated: list[tuple[float, float]] = []
            for _ in range(options.rotations):
                provider.rotate_keys()
                provider.jwks_document()  # key generation is the provider's business
                token = provider.mint_id_token(nonce=nonce, access_token=access_token)
                rotated.append(await validate(token))
        rows.append(
            Row(f"ID token validation {alg}", "report", [v * 1e6 for v in steady], "µs", "CPU")
        )
        rows.append(
            Row(
                f"  first after key rotation {alg}",
                "report",
                [wall * 1e3 for wall, _ in rotated],
                "ms",
                "wall: includes the JWKS refetch over loopback and the provider's answer",
            )
        )
        rows.append(
            Row(
                "  CPU, this process",
                "report",
                [cpu * 1e3 for _, cpu in rotated],
                "ms",
                "the provider's answer included (same process and thread)",
            )
        )
    return rows


# -- the unauthenticated flood (scripts/bench_flood.py) ----------------------------------------


def measure_flood(options: argparse.Namespace) -> list[Row]:
    """Run scripts/bench_flood.py in a process of its own and read its figures."""
    rates: list[float] = []
    growth: list[float] = []
    writes: list[str] = []
    waiting: list[float] = []
    for _ in range(options.flood_runs):
        output = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "bench_flood.py"),
                "--requests",
                str(options.flood_requests),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rates.append(float(_field(output, r"throughput\s+(\d+) requests/s")))
        growth.append(float(_field(output, r"RSS .*\(([+-][\d.]+) MiB\)")))
        writes.append(_field(output, r"storage writes\s+(.*)"))
        # bench_flood.py measures the cross-device waiting page before its flood.
        waiting.append(float(_field(output, r"cpu waiting page, new login\s+([\d.]+) ms")))
    return [
        Row("waiting page CPU per request", "<= 2 ms", waiting, "ms", "incl. the client's share"),
        Row(
            "flood, unauthenticated",
            ">= 2,000/s",
            rates,
            "requests/s",
            f"{options.flood_requests} requests per run",
        ),
        Row(f"  RSS growth after {options.flood_requests}", "<= 20 MB", growth, "MiB"),
        Row(
            "  storage writes",
            "none",
            [0.0 if w == "none" else 1.0 for w in writes],
            "",
            "; ".join(sorted(set(writes))),
        ),
    ]


def _field(output: str, pattern: str) -> str:
    if (match := re.search(pattern, output)) is None:
        raise RuntimeError(f"bench_flood.py printed no {pattern!r}:\n{output}")
    return match.group(1)


# -- the table ---------------------------------------------------------------------------------


def p95(values: Sequence[float]) -> float:
    """Return the 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def print_table(rows: list[Row], started: float, load_before: tuple[float, ...]) -> None:
    """Print the figures, the machine and the command line."""
    width = max(len(row.figure) for row in rows)
    print()
    print(f"{'figure':<{width}}  {'target':<18} {'median':>10} {'p95':>10} {'n':>6}  unit  note")
    for row in rows:
        if row.values:
            median, high = f"{statistics.median(row.values):.3g}", f"{p95(row.values):.3g}"
        else:
            median = high = "-"
        print(
            f"{row.figure:<{width}}  {row.target:<18} {median:>10} {high:>10} "
            f"{len(row.values):>6}  {row.unit:<4}  {row.note}"
        )
    load_after = os.getloadavg()
    print()
    print(
        f"machine: {os.cpu_count()} cores, load average {load_before[0]:.2f} at the start, "
        f"{load_after[0]:.2f} at the end; Python {sys.version.split()[0]}; "
        f"bench took {time.monotonic() - started:.0f} s"
    )
    print(f"command: {shlex.join(['scripts/bench', *sys.argv[1:]])}")


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples: about a minute")
    parser.add_argument("--alg", default="RS256", help="provider's signing algorithm")
    parser.add_argument("--warm-up", type=int, default=20, help="logins before measuring")
    parser.add_argument("--logins", type=int, default=200, help="sequential logins timed")
    parser.add_argument("--clients", type=int, default=50, help="concurrent browsers")
    parser.add_argument("--seconds", type=float, default=30, help="throughput duration (0: skip)")
    parser.add_argument("--setups", type=int, default=30, help="set-ups per provider state")
    parser.add_argument("--validations", type=int, default=2000, help="per algorithm")
    parser.add_argument("--rotations", type=int, default=20, help="per algorithm")
    parser.add_argument("--flood-requests", type=int, default=100_000)
    parser.add_argument("--flood-runs", type=int, default=1, help="0: skip the flood")
    parser.add_argument("--serve-provider", metavar="ALG", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.quick:
        options.logins, options.seconds, options.setups = 50, 10, 10
        options.validations, options.rotations, options.flood_requests = 300, 5, 20_000
    return options


def main() -> None:
    """Measure everything and print the table."""
    options = parse_options(sys.argv[1:])
    if options.serve_provider:
        asyncio.run(serve_provider(options.serve_provider))
        return
    started, load_before = time.monotonic(), os.getloadavg()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="auth_oidc_bench_") as work_dir:
        print("measuring in a real Home Assistant ...", file=sys.stderr)
        rows += measure_hass(options, Path(work_dir))
    print("measuring ID token validation ...", file=sys.stderr)
    rows += asyncio.run(measure_id_tokens(options))
    if options.flood_runs:
        print("measuring the flood ...", file=sys.stderr)
        rows += measure_flood(options)
    print_table(rows, started, load_before)


if __name__ == "__main__":
    main()
