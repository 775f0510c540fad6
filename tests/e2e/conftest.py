"""Fixtures for end-to-end tests: a real ``hass``, the test OpenID Provider and Chromium.

Fixtures (see their docstrings):

* ``hass_factory(extra_yaml="", *, with_integration=False, auth_providers=None,
  use_x_forwarded_for=False, trusted_proxies=(), log_levels=None, port=None, fresh=False)``
  returns an onboarded, running ``HassInstance``. Instances are cached for the whole
  ``tests/e2e`` package by their settings, so tests asking for the same YAML share one
  process (and its users!); ``fresh=True`` forces a new one. Without ``port`` the instance
  listens on the package's default hass port, ``e2e_ports("hass")``, so asking for another
  configuration stops the previous default instance first. ``hass_server`` is
  ``hass_factory()``.
* ``oidc_provider_factory(*, alg="RS256", hass_url=None, clients=None, users=None,
  extra_config=None, port=None)`` starts ``tools/oidc-provider/server.js`` for this test
  only (stopped at its end). Defaults: redirect URIs for the default hass port, and the
  package's default provider port ``e2e_ports("provider")`` so the issuer is the same in
  every test and the hass instances configured with it are reused. ``oidc_provider`` is
  ``oidc_provider_factory()``. Caveat: each start has a new signing key, and the
  integration refetches the JWKS for an unknown ``kid`` at most once a minute, so a reused
  hass refuses the new provider's ID tokens (``id_token_kid``) for up to a minute after its
  last key fetch; keep one provider per module (``test_sso_login.py``) or use ``fresh=True``.
* ``e2e_ports(name) -> int``: a free loopback port per name, stable for the package.
* ``provider``: one RS256 test provider per test module (started once, its own port), for modules
  whose tests share a hass instance and so must share the provider's signing key.
* ``browser`` (package), ``browser_context`` and ``page`` (per test, fresh cookies and
  storage), ``new_page() -> Page`` (a page in another fresh context: a second device),
  ``screenshot(name) -> Path``. On failure the page is saved to
  ``.artifacts/e2e/<test name>.png`` and the hass/provider log tails and the browser
  console are added to the failure report.

Helper modules: ``hass_process`` (``HassInstance``: ``url``, ``config_dir``, ``log_path``,
``owner_username``/``owner_password``, ``access_token()``, ``login_flow_tokens()``,
``api()``, ``request()``, ``ws_command()``/``ws_commands()``, ``list_users()``,
``restart()``, ``log_text()``), ``provider_process`` (``ProviderProcess``: ``issuer``,
``discovery_url``, ``set_user_groups()``, ``update_user()``, ``request_counts()``,
``rotate_keys()``), ``ha_pages`` (HA login page locators, ``password_login()``,
``expect_dashboard()``, ``stored_tokens()``), ``support`` (``free_port()``, HTTP helper).
A fresh hass is up in about 7 s (HTTP ~5 s, onboarding ~1 s, RUNNING ~0.7 s later).

Why e2e tests are plain *sync* tests with Playwright's sync API, and what had to be
switched off here (pytest-homeassistant-custom-component, "phcc", auto-loads for all tests):

* Sockets. phcc's ``pytest_runtest_setup`` hook calls ``pytest_socket.disable_socket()``
  (only AF_UNIX sockets allowed) and ``socket_allow_hosts(["127.0.0.1"])`` before every
  test. pytest-socket's own ``enable_socket`` marker does not help: its hook runs *before*
  phcc's, which disables the sockets again. The ``socket_enabled`` fixture works for the
  test body but runs after package-scoped fixtures. So ``enable_loopback_sockets()``
  restores ``socket.socket`` in an autouse fixture and in every package-scoped fixture
  that needs the network. The 127.0.0.1-only ``connect()`` guard stays: e2e code cannot
  reach the internet by accident. The hass, node and Chromium children are separate
  processes and are not affected at all.
* Event loops. After every call, Playwright's sync API leaves *its* event loop marked as
  running in the main thread (playwright/_impl/_greenlets.py). phcc's autouse async
  fixtures ``configure_event_loop`` and ``enable_event_loop_debug`` (run by
  pytest-asyncio's ``Runner``) and its ``verify_cleanup`` (``run_until_complete`` on the
  current loop) then fail with "Runner.run() cannot be called from a running event loop".
  They exist for in-process ``hass`` tests, so this conftest overrides them with no-ops;
  ``verify_cleanup``'s lingering-thread check would also trip over Playwright's helper
  threads. The Playwright instance is package-scoped, so it is stopped (and the loop
  mark cleared) before tests outside ``tests/e2e`` run. The harness helpers are
  synchronous; ``HassInstance.ws_command`` runs aiohttp on a private thread.
* ``auto_enable_custom_integrations`` (the usual autouse fixture of a custom component's
  ``tests/conftest.py``) would start an in-process ``hass``; it is a no-op here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_socket
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from . import ha_pages
from .glewlwyd_process import GlewlwydProcess
from .hass_process import DEFAULT_AUTH_PROVIDERS, DEFAULT_LOG_LEVELS, HassInstance
from .provider_process import ProviderProcess, check_installed
from .support import ARTIFACTS_DIR, LOOPBACK, free_port

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Generous: the first load of HA's frontend compiles a lot of JavaScript.
DEFAULT_TIMEOUT_MS = 20_000
MAX_RUNNING_HASS = 2

E2E_DIR = Path(__file__).resolve().parent

PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
USED_HASS = pytest.StashKey[list[HassInstance]]()
USED_PROVIDERS = pytest.StashKey[list[ProviderProcess | GlewlwydProcess]]()
BROWSER_LOG = pytest.StashKey[list[str]]()

type PageFactory = Callable[[], Page]
START_TIMES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of the ``hass`` fixture."""
    config.addinivalue_line(
        "markers", "sso_provider(fixture, **yaml): the identity provider of the hass fixture"
    )


def enable_loopback_sockets() -> None:
    """Undo phcc's pytest-socket block (the 127.0.0.1-only connect guard stays)."""
    pytest_socket.enable_socket()


# --------------------------------------------------------------------------- hooks


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test below tests/e2e with ``e2e``."""
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.without_hass)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report; add log tails and the browser console to failures."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    if report.failed and report.when in ("setup", "call"):
        for instance in item.stash.get(USED_HASS, []):
            report.sections.append((f"hass log tail ({instance.log_path})", instance.log_tail(80)))
        for provider in item.stash.get(USED_PROVIDERS, []):
            report.sections.append(
                (f"provider log tail ({provider.log_path})", provider.log_tail(40))
            )
        if browser_log := item.stash.get(BROWSER_LOG, []):
            report.sections.append(("browser console", "\n".join(browser_log[-60:])))
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Print how long each hass start took."""
    if times := config.stash.get(START_TIMES, []):
        terminalreporter.write_line("e2e start-up: " + "; ".join(times))


def _test_failed(request: pytest.FixtureRequest) -> bool:
    """Return whether setup or call of the requesting test failed."""
    reports = request.node.stash.get(PHASE_REPORTS, {})
    return any(report.failed for report in reports.values())


def _safe_name(name: str) -> str:
    """Return a file-name-safe version of a test name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


# ------------------------------------------------------------- phcc overrides


@pytest.fixture(autouse=True)
def configure_event_loop() -> None:
    """Override phcc's async autouse fixture: e2e tests have no in-process loop."""


@pytest.fixture(autouse=True)
def enable_event_loop_debug() -> None:
    """Override phcc's async autouse fixture: e2e tests have no in-process loop."""


@pytest.fixture(autouse=True)
def verify_cleanup() -> None:
    """Override phcc's loop/thread leak check, which Playwright's sync API trips."""


@pytest.fixture(autouse=True)
def _e2e_loopback_sockets() -> None:
    """Allow loopback sockets in the test body (phcc blocks them before each test)."""
    enable_loopback_sockets()


# ----------------------------------------------------------------------- ports


class PortRegistry:
    """Free loopback ports by name, stable for the package."""

    def __init__(self) -> None:
        """Start with no ports."""
        self._ports: dict[str, int] = {}

    def __call__(self, name: str) -> int:
        """Return the port reserved for name (picked on first use)."""
        if name not in self._ports:
            taken = set(self._ports.values())
            port = free_port()
            while port in taken:
                port = free_port()
            self._ports[name] = port
        return self._ports[name]


@pytest.fixture(scope="package")
def e2e_ports() -> PortRegistry:
    """Return the package's named ports ("hass", "provider", ...)."""
    enable_loopback_sockets()
    return PortRegistry()


# ------------------------------------------------------------------------ hass


class HassPool:
    """Running hass instances by settings; at most one per port."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> None:
        """Start empty."""
        self._tmp = tmp_path_factory
        self._config = config
        self._instances: dict[str, HassInstance] = {}

    def get(self, port: int, fresh: bool, settings: Mapping[str, Any]) -> HassInstance:
        """Return a running instance for these settings, starting one if needed."""
        key = json.dumps({"port": port, **settings}, sort_keys=True, default=str)
        instance = self._instances.pop(key, None)
        if instance is not None and (fresh or not instance.is_running()):
            instance.stop()
            instance = None
        if instance is None:
            for other_key, other in list(self._instances.items()):
                if other.port == port:
                    other.stop()
                    del self._instances[other_key]
            while len(self._instances) >= MAX_RUNNING_HASS:
                oldest = next(iter(self._instances))
                self._instances.pop(oldest).stop()
            instance = HassInstance(self._tmp.mktemp("hass"), port, **settings)
            instance.write_config()
            instance.start()
            times = ", ".join(f"{k} {v:.1f} s" for k, v in instance.timings.items())
            self._config.stash.setdefault(START_TIMES, []).append(f"hass :{port} {times}")
        self._instances[key] = instance  # most recently used last
        return instance

    def close(self) -> None:
        """Stop every instance."""
        while self._instances:
            _, instance = self._instances.popitem()
            instance.stop()


@pytest.fixture(scope="package")
def _hass_pool(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Generator[HassPool]:
    """Own all hass processes of the package; stop them at its end."""
    pool = HassPool(tmp_path_factory, pytestconfig)
    try:
        yield pool
    finally:
        pool.close()


class HassFactory(Protocol):
    """Signature of the ``hass_factory`` fixture."""

    def __call__(
        self,
        extra_yaml: str = "",
        *,
        with_integration: bool = False,
        auth_providers: Sequence[Mapping[str, Any]] | None = None,
        use_x_forwarded_for: bool = False,
        trusted_proxies: Sequence[str] = (),
        log_levels: Mapping[str, str] | None = None,
        port: int | None = None,
        fresh: bool = False,
    ) -> HassInstance:
        """Return a running, onboarded hass with this configuration."""
        ...


@pytest.fixture
def hass_factory(
    request: pytest.FixtureRequest, _hass_pool: HassPool, e2e_ports: PortRegistry
) -> HassFactory:
    """Return a function giving a running, onboarded hass for a configuration.

    ``extra_yaml`` is appended to configuration.yaml (e.g. an ``auth_oidc:`` block);
    ``with_integration`` links custom_components/auth_oidc into the config dir (the
    folder must exist). Owner: ``owner`` / ``owner-password-1``. Instances are shared
    by tests asking for the same settings unless ``fresh=True``.
    """

    def factory(
        extra_yaml: str = "",
        *,
        with_integration: bool = False,
        auth_providers: Sequence[Mapping[str, Any]] | None = None,
        use_x_forwarded_for: bool = False,
        trusted_proxies: Sequence[str] = (),
        log_levels: Mapping[str, str] | None = None,
        port: int | None = None,
        fresh: bool = False,
    ) -> HassInstance:
        enable_loopback_sockets()
        settings: dict[str, Any] = {
            "extra_yaml": extra_yaml,
            "with_integration": with_integration,
            "auth_providers": list(auth_providers or DEFAULT_AUTH_PROVIDERS),
            "use_x_forwarded_for": use_x_forwarded_for,
            "trusted_proxies": list(trusted_proxies),
            "log_levels": dict(DEFAULT_LOG_LEVELS if log_levels is None else log_levels),
        }
        instance = _hass_pool.get(port or e2e_ports("hass"), fresh, settings)
        used = request.node.stash.setdefault(USED_HASS, [])
        if instance not in used:
            used.append(instance)
        return instance

    return factory


@pytest.fixture
def hass(request: pytest.FixtureRequest, hass_factory: HassFactory) -> HassInstance:
    """Return hass with auth_oidc (public client, PKCE) for the module's identity provider.

    That is the ``provider`` fixture unless the module names another fixture and the YAML's
    options, e.g. ``@pytest.mark.sso_provider("glewlwyd", display_name="Glewlwyd")``.
    """
    marker = request.node.get_closest_marker("sso_provider")
    identity = request.getfixturevalue(marker.args[0] if marker else "provider")
    options = dict(marker.kwargs) if marker else {}
    return hass_factory(
        ha_pages.sso_config_yaml(identity.discovery_url, **options), with_integration=True
    )


@pytest.fixture
def hass_server(hass_factory: HassFactory) -> HassInstance:
    """Return the default instance: HA's own login only, no custom integration."""
    return hass_factory()


# -------------------------------------------------------------------- provider


class ProviderFactory(Protocol):
    """Signature of the ``oidc_provider_factory`` fixture."""

    def __call__(
        self,
        *,
        alg: str = "RS256",
        hass_url: str | None = None,
        clients: Sequence[Mapping[str, Any]] | None = None,
        users: Sequence[Mapping[str, Any]] | None = None,
        extra_config: Mapping[str, Any] | None = None,
        port: int | None = None,
    ) -> ProviderProcess:
        """Return a running test OpenID Provider."""
        ...


@pytest.fixture
def oidc_provider_factory(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    e2e_ports: PortRegistry,
) -> Generator[ProviderFactory]:
    """Return a function starting the test OpenID Provider for this test.

    ``hass_url`` (default: the default hass port) sets the clients' redirect URI
    ``<hass_url>/auth/oidc/callback``; ``clients``/``users`` replace the demo ones
    (``provider_process.default_clients``/``DEFAULT_USERS``); ``extra_config`` adds
    top-level config keys (``ttl``, ``min_state_length``, ``end_session_confirm``,
    ``at_hash``, ``id_token_aud``, ``internal_host``, ``backchannel_logout``).
    The issuer is ``http://127.0.0.1:<port>``; ``port=0`` lets the OS pick one.
    """
    check_installed()
    started: list[ProviderProcess] = []

    def factory(
        *,
        alg: str = "RS256",
        hass_url: str | None = None,
        clients: Sequence[Mapping[str, Any]] | None = None,
        users: Sequence[Mapping[str, Any]] | None = None,
        extra_config: Mapping[str, Any] | None = None,
        port: int | None = None,
    ) -> ProviderProcess:
        enable_loopback_sockets()
        if port is None:
            port = 0 if started else e2e_ports("provider")
        provider = ProviderProcess(
            tmp_path_factory.mktemp("provider"),
            hass_url=hass_url or f"http://{LOOPBACK}:{e2e_ports('hass')}",
            alg=alg,
            port=port,
            clients=clients,
            users=users,
            extra_config=extra_config,
        )
        provider.start()
        started.append(provider)
        request.node.stash.setdefault(USED_PROVIDERS, []).append(provider)
        return provider

    try:
        yield factory
    finally:
        for provider in started:
            provider.stop()


@pytest.fixture
def oidc_provider(oidc_provider_factory: ProviderFactory) -> ProviderProcess:
    """Return the demo provider (RS256, alice/bob/carol) for the default hass port."""
    return oidc_provider_factory()


# --------------------------------------------------------------------- browser


@pytest.fixture(scope="package")
def playwright() -> Generator[Playwright]:
    """Run Playwright's sync API for the package (stopped before other tests run)."""
    enable_loopback_sockets()
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Generator[Browser]:
    """Launch Debian's Chromium (env CHROMIUM_PATH overrides /usr/bin/chromium)."""
    executable = os.environ.get("CHROMIUM_PATH", DEFAULT_CHROMIUM)
    if not Path(executable).is_file():
        pytest.fail(f"Chromium not found at {executable}: run scripts/setup or set CHROMIUM_PATH")
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def browser_context(request: pytest.FixtureRequest, browser: Browser) -> Generator[BrowserContext]:
    """Return a fresh browser context (no cookies, no storage) in English, UTC."""
    context = browser.new_context(
        locale="en-US", timezone_id="UTC", viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    log = request.node.stash.setdefault(BROWSER_LOG, [])
    context.on("console", lambda msg: log.append(f"[{msg.type}] {msg.text}"))
    context.on("weberror", lambda err: log.append(f"[pageerror] {err.error}"))
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, browser_context: BrowserContext) -> Generator[Page]:
    """Return a page; on failure it is saved as .artifacts/e2e/<test name>.png."""
    page = browser_context.new_page()
    yield page
    if _test_failed(request) and not page.is_closed():
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS_DIR / f"{_safe_name(request.node.name)}.png"
        try:
            page.screenshot(path=path, full_page=True)
        except Exception as err:  # best effort: keep the real failure
            print(f"could not save failure screenshot: {err}")
        else:
            print(f"failure screenshot: {path}")


@pytest.fixture
def new_page(request: pytest.FixtureRequest, browser: Browser) -> Generator[PageFactory]:
    """Return a function opening a page in a new browser context (no cookies, no storage)."""
    contexts = []
    log = request.node.stash.setdefault(BROWSER_LOG, [])

    def factory() -> Page:
        context = browser.new_context(
            locale="en-US", timezone_id="UTC", viewport={"width": 1280, "height": 800}
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.on("console", lambda msg: log.append(f"[{msg.type}] {msg.text}"))
        contexts.append(context)
        return context.new_page()

    try:
        yield factory
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, page: Page) -> Callable[[str], Path]:
    """Return a function saving the page as .artifacts/e2e/<test name>--<name>.png."""

    def save(name: str) -> Path:
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS_DIR / f"{_safe_name(request.node.name)}--{_safe_name(name)}.png"
        page.screenshot(path=path)
        return path

    return save


@pytest.fixture(scope="module")
def _module_provider(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    e2e_ports: PortRegistry,
) -> Generator[ProviderProcess]:
    """Run one RS256 test provider for a whole test module (one signing key, its own port)."""
    enable_loopback_sockets()
    check_installed()
    name = f"{request.module.__name__.rsplit('.', 1)[-1]}-provider"
    provider = ProviderProcess(
        tmp_path_factory.mktemp(name),
        hass_url=f"http://{LOOPBACK}:{e2e_ports('hass')}",
        port=e2e_ports(name),
    )
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def provider(request: pytest.FixtureRequest, _module_provider: ProviderProcess) -> ProviderProcess:
    """Return the module's provider (its log tail is added to failure reports)."""
    request.node.stash.setdefault(USED_PROVIDERS, []).append(_module_provider)
    return _module_provider
