"""Run the product for development: the demo identity provider and a real Home Assistant.

``scripts/develop`` runs ``scripts/setup`` and then ``python -m tools.devstack``. This module
reuses the end-to-end harness of ``tests/e2e`` instead of repeating it:

* ``ProviderProcess`` runs ``tools/oidc-provider/server.js`` with the clients, users and
  algorithm of ``tools/oidc-provider/demo-config.json`` on http://127.0.0.1:9000 (its config
  file and log are in ``.dev/provider``).
* ``HassInstance`` runs ``hass`` on ``.dev/config`` (http://127.0.0.1:8123) with this
  integration linked into ``custom_components`` and an ``auth_oidc:`` block pointing at the
  provider. The first run onboards the owner (``owner`` / ``owner-password-1``); later runs
  reuse the onboarded instance, its users and its settings. ``configuration.yaml`` is
  rewritten at every start; ``--reset`` starts from an empty ``.dev/config``.

It then prints a banner (URL, demo users, owner account, log files), follows both logs on
stdout and, on Ctrl-C, SIGTERM or SIGHUP, stops both process groups (SIGTERM, then SIGKILL
after a timeout) and exits 0. Restarting Home Assistant from its UI makes ``hass`` exit with
code 100; the stack then starts it again. Busy ports, a missing ``node`` or a start-up failure
end the command with a message and exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import json
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from tests.e2e.hass_process import INTEGRATION_DOMAIN, INTEGRATION_SOURCE, HassError, HassInstance
from tests.e2e.provider_process import PROVIDER_DIR, ProviderError, ProviderProcess
from tests.e2e.support import LOOPBACK, REPO_ROOT, port_is_free

DEV_DIR = REPO_ROOT / ".dev"
CONFIG_DIR = DEV_DIR / "config"
PROVIDER_WORK_DIR = DEV_DIR / "provider"
DEMO_CONFIG = PROVIDER_DIR / "demo-config.json"

DEFAULT_HASS_PORT = 8123
DISPLAY_NAME = "Demo Pocket ID"
ROLE_GROUPS: Mapping[str, str] = {"admin": "admins", "user": "users"}
INSTANCE_NAME = "auth_oidc development"
# `hass` exits with this code when a restart is asked for (UI, service call).
RESTART_EXIT_CODE = 100
HASS_LOCK_FILE = ".ha_run.lock"  # flock()ed by a running hass (homeassistant.runner)
POLL_SECONDS = 0.25
HARNESS_LOG_MARKER = b"===== harness:"


class StopRequested(BaseException):
    """A signal asked the stack to stop (BaseException: nothing may swallow it)."""


def emit(text: str, stream: TextIO | None = None) -> None:
    """Print a line; a closed terminal or pipe (SIGHUP, `| head`) must not stop the shutdown."""
    with contextlib.suppress(OSError):
        print(text, file=stream or sys.stdout, flush=True)


def say(message: str) -> None:
    """Print a progress line of this command."""
    emit(f"develop: {message}")


def complain(message: str) -> None:
    """Print an error line of this command on stderr."""
    emit(f"develop: error: {message}", sys.stderr)


def shown(path: Path) -> str:
    """Return a path for messages: relative to the repository root when inside it."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


class SignalGuard:
    """Turn the first SIGINT/SIGTERM/SIGHUP into StopRequested; later ones only print."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        """Start with no stop requested."""
        self.stopping = False

    def install(self) -> None:
        """Handle the signals (also SIGINT that a non-interactive shell's `&` ignores)."""
        for signum in self.SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        """Raise StopRequested once; the shutdown itself must not be interrupted."""
        name = signal.Signals(signum).name
        if self.stopping:
            with contextlib.suppress(OSError):
                os.write(sys.stderr.fileno(), f"\ndevelop: {name}: already stopping\n".encode())
            return
        self.stopping = True
        raise StopRequested(name)


class LogFollower:
    """Print the lines that a log file gets, with a prefix."""

    def __init__(self, path: Path, prefix: str) -> None:
        """Follow path from its current end."""
        self.path = path
        self.prefix = prefix
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = b""

    def poll(self) -> None:
        """Print the complete lines written since the last call."""
        try:
            with self.path.open("rb") as log:
                if os.fstat(log.fileno()).st_size < self._offset:  # truncated or replaced
                    self._offset, self._partial = 0, b""
                log.seek(self._offset)
                data = log.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            if not line.startswith(HARNESS_LOG_MARKER):
                text = line.decode("utf-8", errors="replace").rstrip("\r")
                emit(f"{self.prefix}{text}")


@dataclass(frozen=True)
class DemoUser:
    """A user of the demo provider and what the integration makes of them."""

    username: str
    password: str
    groups: tuple[str, ...]

    @property
    def outcome(self) -> str:
        """Return the role that the configured `roles:` give, or why the login is refused."""
        if ROLE_GROUPS["admin"] in self.groups:
            return "administrator"
        if ROLE_GROUPS["user"] in self.groups:
            return "user"
        return f"refused: not in {ROLE_GROUPS['user']!r}"


def load_demo_config() -> dict[str, Any]:
    """Return tools/oidc-provider/demo-config.json."""
    config: dict[str, Any] = json.loads(DEMO_CONFIG.read_text(encoding="utf-8"))
    return config


def provider_for(demo: Mapping[str, Any], port: int, hass_url: str) -> ProviderProcess:
    """Return the demo provider on port, its clients redirecting to hass_url."""
    demo_hass_url = f"http://{LOOPBACK}:{DEFAULT_HASS_PORT}"
    clients = json.loads(json.dumps(demo["clients"]).replace(demo_hass_url, hass_url))
    known = {"host", "port", "issuer", "alg", "clients", "users"}
    return ProviderProcess(
        PROVIDER_WORK_DIR,
        hass_url=hass_url,
        alg=str(demo.get("alg", "RS256")),
        port=port,
        clients=clients,
        users=demo["users"],
        extra_config={key: value for key, value in demo.items() if key not in known},
    )


def auth_oidc_yaml(provider_port: int, client_id: str) -> str:
    """Return the YAML that the harness appends to its minimal configuration.yaml."""
    roles = "\n".join(f"    {role}: {group}" for role, group in ROLE_GROUPS.items())
    return (
        "# Written by scripts/develop at every start (edits here are lost).\n"
        "person:\n"
        "auth_oidc:\n"
        f"  client_id: {client_id}\n"
        f"  discovery_url: http://{LOOPBACK}:{provider_port}/.well-known/openid-configuration\n"
        f"  display_name: {DISPLAY_NAME}\n"
        "  roles:\n"
        f"{roles}\n"
    )


def link_integration() -> None:
    """Link custom_components/auth_oidc into .dev/config with a relative (movable) link."""
    link = CONFIG_DIR / "custom_components" / INTEGRATION_DOMAIN
    target = Path(os.path.relpath(INTEGRATION_SOURCE, link.parent))
    if link.is_symlink() and link.readlink() == target:
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise HassError(f"{shown(link)} exists and is not a link; run scripts/develop --reset")
    link.symlink_to(target, target_is_directory=True)


def stored_hass_port() -> int | None:
    """Return the port that .dev/config's Home Assistant keeps in its storage, if any.

    Home Assistant 2026.10 imports the YAML ``http:`` settings once, at the first start,
    and ignores them afterwards: an existing .dev/config stays on its first port.
    """
    try:
        stored = json.loads((CONFIG_DIR / ".storage" / "http").read_text(encoding="utf-8"))
        return int(stored["data"]["stable"]["server_port"])
    except OSError, ValueError, KeyError, TypeError:
        return None


def config_in_use() -> bool:
    """Return whether a hass process holds the single-instance lock of .dev/config."""
    lock_path = CONFIG_DIR / HASS_LOCK_FILE
    if not lock_path.exists():
        return False
    with lock_path.open("a", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return False


def rotate(path: Path) -> None:
    """Keep the previous run's log as <name>.1 so that each run starts a fresh log."""
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))


def error_text(err: BaseException) -> str:
    """Return an exception's message with its notes (the harness adds log tails there)."""
    return "".join(traceback.format_exception_only(err)).strip()


class DevStack:
    """The provider and Home Assistant of one `scripts/develop` run."""

    def __init__(self, hass_port: int, provider_port: int) -> None:
        """Describe both processes; nothing starts before start()."""
        demo = load_demo_config()
        self.hass = HassInstance(
            CONFIG_DIR,
            hass_port,
            extra_yaml=auth_oidc_yaml(provider_port, str(demo["clients"][0]["client_id"])),
            with_integration=True,
            name=INSTANCE_NAME,
        )
        self.provider = provider_for(demo, provider_port, self.hass.url)
        self.users = [
            DemoUser(str(u["username"]), str(u["password"]), tuple(u.get("groups", ())))
            for u in demo["users"]
        ]
        self._followers: list[LogFollower] = []
        self.following = False  # set once the banner is out: from then on logs are shown

    def start(self) -> None:
        """Start the provider, then Home Assistant (onboarding it on the first run)."""
        for path in (self.provider.log_path, self.hass.log_path):
            path.parent.mkdir(parents=True, exist_ok=True)
            rotate(path)
        self._followers = [
            LogFollower(self.provider.log_path, "idp  | "),
            LogFollower(self.hass.log_path, "hass | "),
        ]
        say(f"starting the demo identity provider on http://{LOOPBACK}:{self.provider_port}")
        self.provider.start()
        say(f"identity provider ready in {self.provider.startup_seconds:.1f} s")
        first_run = not (CONFIG_DIR / ".storage" / "onboarding").exists()
        say(
            f"starting Home Assistant on {self.hass.url} with config {shown(CONFIG_DIR)}"
            + (" (first run: onboarding the owner)" if first_run else "")
        )
        link_integration()
        self.hass.write_config()
        self.hass.start()
        self.follow()
        timings = ", ".join(f"{key} {value:.1f} s" for key, value in self.hass.timings.items())
        say(f"Home Assistant ready ({timings})")

    @property
    def provider_port(self) -> int:
        """Return the port the provider listens on (or will)."""
        return self.provider.port or self.provider.requested_port

    def follow(self) -> None:
        """Print what the logs got since the last call."""
        for follower in self._followers:
            follower.poll()

    def integration_state(self) -> str:
        """Return whether Home Assistant set up auth_oidc, for the banner."""
        try:
            components = self.hass.api("GET", "/api/config").json().get("components", [])
        except (HassError, OSError, ValueError) as err:
            return f"unknown ({err})"
        if INTEGRATION_DOMAIN in components:
            return "loaded"
        return f"NOT loaded (see the hass log, {shown(self.hass.log_path)})"

    def login_methods(self) -> str:
        """Return the names that HA's /auth/providers offers on the login page."""
        try:
            answer = self.hass.request("GET", "/auth/providers").json()
        except (OSError, ValueError) as err:
            return f"unknown ({err})"
        providers = answer.get("providers", []) if isinstance(answer, dict) else answer
        return ", ".join(str(p.get("name")) for p in providers) or "none"

    def banner(self) -> str:
        """Return the text printed once everything runs."""
        width = max(len(u.username) + len(u.password) for u in self.users) + 3
        users = [
            f"    {f'{u.username} / {u.password}':<{width}}  -> {u.outcome}" for u in self.users
        ]
        rule = "=" * 78
        return "\n".join(
            [
                "",
                rule,
                f"  Home Assistant is running:  {self.hass.url}",
                f"  Demo identity provider:     {self.provider.issuer}  ({DISPLAY_NAME})",
                f"  auth_oidc integration:      {self.integration_state()}",
                f"  HA auth providers:          {self.login_methods()}",
                "",
                f"  Log in with {DISPLAY_NAME} as (username / password -> role):",
                *users,
                "",
                '  Backup login ("Use another login method", Home Assistant\'s own login):',
                f"    {self.hass.owner_username} / {self.hass.owner_password}"
                f"  -> owner ({self.hass.owner_name}, administrator)",
                "",
                f"  Logs (also shown below): {shown(self.hass.log_path)} (Home Assistant),",
                f"                           {shown(self.provider.log_path)} (identity provider)",
                f"  Config: {shown(CONFIG_DIR)} (kept between runs; --reset starts afresh)",
                "",
                "  Ctrl-C to stop.",
                rule,
                "",
            ]
        )

    def watch(self) -> int:
        """Follow the logs until a process ends; restart hass when it asks for it."""
        while True:
            self.follow()
            if not self.provider.is_running():
                complain(f"the identity provider exited; see {shown(self.provider.log_path)}")
                return 1
            if not self.hass.is_running():
                code = self.hass.stop()
                self.follow()
                if code != RESTART_EXIT_CODE:
                    say(f"Home Assistant exited with code {code}")
                    return 0 if code == 0 else 1
                say("Home Assistant asked for a restart: starting it again")
                self.hass.start()
                self.follow()
                say(f"Home Assistant is running again on {self.hass.url}")
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        """Stop Home Assistant, then the provider (each: SIGTERM, SIGKILL after a timeout)."""
        if self.hass.is_running():
            say("stopping Home Assistant")
        self.hass.stop()
        if self.provider.is_running():
            say("stopping the identity provider")
        self.provider.stop()
        if self.following:
            self.follow()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description=(
            "Run a real Home Assistant with the auth_oidc integration and the demo identity "
            "provider (tools/oidc-provider, demo-config.json). Ctrl-C stops both."
        ),
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help=f"delete {shown(CONFIG_DIR)} first (new owner, no users, no settings)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=(
            "Home Assistant port (default 8123; an existing .dev/config keeps the port of its "
            "first run)"
        ),
    )
    parser.add_argument(
        "--provider-port",
        type=int,
        default=None,
        help="identity provider port (default: demo-config.json's, 9000)",
    )
    return parser.parse_args(argv)


class CannotStartError(Exception):
    """The stack cannot start as asked (its args are the lines to print)."""


def choose_ports(args: argparse.Namespace) -> tuple[int, int]:
    """Return the Home Assistant and provider ports, or raise CannotStartError."""
    if config_in_use():
        raise CannotStartError(
            f"another Home Assistant is running with {shown(CONFIG_DIR)}; stop it first"
        )
    stored_port = None if args.reset else stored_hass_port()
    hass_port: int = args.port or stored_port or DEFAULT_HASS_PORT
    if stored_port is not None and hass_port != stored_port:
        raise CannotStartError(
            f"{shown(CONFIG_DIR)} was set up on port {stored_port}, and Home Assistant keeps "
            f"that port after its first start: use --port {stored_port}, or add --reset to "
            f"start from scratch on port {hass_port}"
        )
    provider_port: int = args.provider_port or int(load_demo_config()["port"])
    if hass_port == provider_port:
        raise CannotStartError("Home Assistant and the identity provider need different ports")
    ports = {"Home Assistant": hass_port, "identity provider": provider_port}
    if busy := [f"{what} port {port}" for what, port in ports.items() if not port_is_free(port)]:
        raise CannotStartError(
            f"{' and '.join(busy)} on {LOOPBACK} already in use",
            "is scripts/develop (or another Home Assistant) already running? Stop it, or pick "
            "other ports with --port / --provider-port",
        )
    return hass_port, provider_port


def run(stack: DevStack, guard: SignalGuard) -> int:
    """Start the stack, print the banner, follow it; stop it whatever happens."""
    began = time.monotonic()
    try:
        stack.start()
        say(f"everything is up after {time.monotonic() - began:.1f} s")
        emit(stack.banner())
        stack.following = True
        return stack.watch()
    except StopRequested as stop:
        say(f"{stop}: stopping")
        return 0
    except (HassError, TimeoutError) as err:
        complain(error_text(err))
        complain(f"hint: scripts/develop --reset starts again from an empty {shown(CONFIG_DIR)}")
        return 1
    except (ProviderError, OSError) as err:
        complain(error_text(err))
        return 1
    finally:
        guard.stopping = True
        stack.stop()
        say("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the development stack until a signal or a process ends; return the exit code."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a file or pipe, not only a terminal
    args = parse_args(argv)
    guard = SignalGuard()
    guard.install()
    try:
        hass_port, provider_port = choose_ports(args)
        if args.reset and CONFIG_DIR.exists():
            shutil.rmtree(CONFIG_DIR)
            say(f"--reset: deleted {shown(CONFIG_DIR)}")
    except CannotStartError as err:
        for line in err.args:
            complain(line)
        return 1
    except StopRequested:
        return 0
    return run(DevStack(hass_port, provider_port), guard)


if __name__ == "__main__":
    sys.exit(main())
