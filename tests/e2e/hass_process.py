"""A real Home Assistant process on a loopback port, onboarded and ready for a browser.

``HassInstance`` writes a minimal configuration directory, starts ``hass`` from the
virtualenv that runs pytest, waits for the HTTP server, creates the owner through the
onboarding HTTP API and confirms ("promotes") the HTTP settings taken from YAML.
Everything here is synchronous (urllib, and aiohttp on a private thread for the
websocket), so it works next to Playwright's sync API, which leaves its own event loop
marked as running in the main thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import aiohttp

from .support import (
    LOOPBACK,
    REPO_ROOT,
    HttpResponse,
    http_request,
    port_is_free,
    spawn,
    stop_process_group,
    tail,
    wait_until,
)

INTEGRATION_DOMAIN = "auth_oidc"
INTEGRATION_SOURCE = REPO_ROOT / "custom_components" / INTEGRATION_DOMAIN

# Requirements of the integrations that onboarding's core_config step starts; they want
# the internet. Skipping them keeps start-up offline and fast.
SKIP_PIP_PACKAGES = "gTTS,PyMetno,radios"
# Onboarding's core_config step starts config flows for these; without their (skipped)
# requirements each fails with a traceback in the log at every start, which buries the
# interesting lines of a failure's log tail. Offline stand-ins in custom_components abort
# the onboarding flow quietly instead.
OFFLINE_STUB_DOMAINS = ("google_translate", "met", "radio_browser")
_STUB_CONFIG_FLOW = '''\
"""Offline stand-in for a core integration in an end-to-end test instance."""

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult


class OfflineStubFlow(ConfigFlow, domain={domain!r}):
    """Abort the flow that onboarding starts."""

    async def async_step_onboarding(self, data=None) -> ConfigFlowResult:
        """Do not set up the integration."""
        return self.async_abort(reason="offline_test_instance")
'''

DEFAULT_AUTH_PROVIDERS: tuple[Mapping[str, Any], ...] = ({"type": "homeassistant"},)
# Loggers that only complain about system libraries the tests do not need.
QUIET_LOGGERS: Mapping[str, str] = {
    "haffmpeg": "critical",  # no ffmpeg binary
    "homeassistant.components.camera.img_util": "critical",  # no libturbojpeg
}
DEFAULT_LOG_LEVELS: Mapping[str, str] = {
    "custom_components.auth_oidc": "debug",
    "homeassistant.components.auth": "info",
}

ONBOARDING_STEPS = frozenset({"user", "core_config", "analytics", "integration"})

OWNER_NAME = "Owner"
OWNER_USERNAME = "owner"
OWNER_PASSWORD = "owner-password-1"

# Start-up problems after which our port will never answer.
FATAL_LOG_MARKERS = ("Activating recovery mode", "Home Assistant core failed to initialize")

START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0


class HassError(RuntimeError):
    """Home Assistant did not do what the harness expected."""


class HassWebsocketError(HassError):
    """A websocket command returned an error."""

    def __init__(self, command: str, code: str, message: str) -> None:
        """Keep the error code of the failed command."""
        super().__init__(f"websocket command {command!r} failed: {code}: {message}")
        self.code = code


def hass_command() -> list[str]:
    """Return the command that starts the venv's Home Assistant."""
    script = Path(sys.executable).parent / "hass"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "homeassistant"]


HARNESS_TOP_LEVEL_KEYS = ("homeassistant", "http", "frontend", "config")


def _yaml_value(value: Any) -> str:
    """Render a scalar or list as YAML (JSON is valid YAML)."""
    return json.dumps(value)


def _yaml_mapping(mapping: Mapping[str, Any], indent: int) -> list[str]:
    """Render a flat mapping as block YAML lines."""
    pad = " " * indent
    return [f"{pad}{key}: {_yaml_value(value)}" for key, value in mapping.items()]


def _has_top_level_key(yaml_text: str, key: str) -> bool:
    """Return whether the YAML text has a top-level key."""
    return any(line.startswith(f"{key}:") for line in yaml_text.splitlines())


class HassInstance:
    """One ``hass`` process with its own configuration directory and port."""

    def __init__(
        self,
        config_dir: Path,
        port: int,
        *,
        extra_yaml: str = "",
        with_integration: bool = False,
        auth_providers: Sequence[Mapping[str, Any]] = DEFAULT_AUTH_PROVIDERS,
        use_x_forwarded_for: bool = False,
        trusted_proxies: Sequence[str] = (),
        log_levels: Mapping[str, str] = DEFAULT_LOG_LEVELS,
        name: str = "E2E Home",
    ) -> None:
        """Describe the instance; nothing starts before start()."""
        self.config_dir = config_dir
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"
        self.log_path = config_dir / "hass.log"
        self.owner_name = OWNER_NAME
        self.owner_username = OWNER_USERNAME
        self.owner_password = OWNER_PASSWORD
        self.extra_yaml = textwrap.dedent(extra_yaml).strip("\n")
        self.with_integration = with_integration
        self.auth_providers = [dict(provider) for provider in auth_providers]
        self.use_x_forwarded_for = use_x_forwarded_for
        self.trusted_proxies = list(trusted_proxies)
        self.log_levels = dict(log_levels)
        self.name = name
        if not any(p.get("type") == "homeassistant" for p in self.auth_providers):
            raise ValueError("auth_providers needs the homeassistant provider for onboarding")
        for key in HARNESS_TOP_LEVEL_KEYS:
            if _has_top_level_key(self.extra_yaml, key):
                raise ValueError(f"extra_yaml must not contain {key}: (the harness writes it)")
        # Seconds spent in each start-up phase of the last start().
        self.timings: dict[str, float] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_offset = 0  # characters of the log written before the current start
        self._refresh_token: str | None = None
        self._access_token: str | None = None
        self._access_token_expires = 0.0

    # ------------------------------------------------------------------ set-up

    @property
    def client_id(self) -> str:
        """Return the client id the HA frontend uses for this instance."""
        return f"{self.url}/"

    @property
    def redirect_uri(self) -> str:
        """Return the redirect URI the HA frontend uses for this instance."""
        return f"{self.url}/?auth_callback=1"

    def configuration_yaml(self) -> str:
        """Return the text of configuration.yaml."""
        lines = [
            "homeassistant:",
            *_yaml_mapping(
                {
                    "name": self.name,
                    "unit_system": "metric",
                    "time_zone": "UTC",
                    "latitude": 52.3731,
                    "longitude": 4.8922,
                    "elevation": 0,
                },
                2,
            ),
            "  auth_providers:",
        ]
        for provider in self.auth_providers:
            first, *rest = _yaml_mapping(provider, 6)
            lines.append("    - " + first.lstrip())
            lines.extend(rest)
        http_conf: dict[str, Any] = {"server_host": LOOPBACK, "server_port": self.port}
        if self.use_x_forwarded_for:
            http_conf["use_x_forwarded_for"] = True
        if self.trusted_proxies:
            http_conf["trusted_proxies"] = self.trusted_proxies
        lines += ["http:", *_yaml_mapping(http_conf, 2), "frontend:", "config:"]
        if not _has_top_level_key(self.extra_yaml, "logger"):
            lines += ["logger:", "  default: warning", "  logs:"]
            lines += _yaml_mapping({**QUIET_LOGGERS, **self.log_levels}, 4)
        if self.extra_yaml:
            lines.append(self.extra_yaml)
        return "\n".join(lines) + "\n"

    def write_config(self) -> None:
        """Write configuration.yaml and link the integration into custom_components."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "configuration.yaml").write_text(
            self.configuration_yaml(), encoding="utf-8"
        )
        self._write_offline_stubs()
        if self.with_integration:
            if not (INTEGRATION_SOURCE / "manifest.json").is_file():
                raise HassError(
                    f"with_integration=True but {INTEGRATION_SOURCE.relative_to(REPO_ROOT)}"
                    "/manifest.json does not exist"
                )
            custom = self.config_dir / "custom_components"
            custom.mkdir(exist_ok=True)
            link = custom / INTEGRATION_DOMAIN
            if not link.exists():
                link.symlink_to(INTEGRATION_SOURCE, target_is_directory=True)

    def _write_offline_stubs(self) -> None:
        """Shadow the onboarding integrations that need the internet with quiet stubs."""
        for domain in OFFLINE_STUB_DOMAINS:
            folder = self.config_dir / "custom_components" / domain
            folder.mkdir(parents=True, exist_ok=True)
            manifest = {
                "domain": domain,
                "name": f"{domain} (offline e2e stub)",
                "version": "0.0.0",
                "config_flow": True,
                "documentation": "https://example.invalid",
                "codeowners": [],
                "requirements": [],
                "dependencies": [],
            }
            (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
            (folder / "__init__.py").write_text(
                '"""Offline stand-in (end-to-end tests)."""\n', encoding="utf-8"
            )
            (folder / "config_flow.py").write_text(
                _STUB_CONFIG_FLOW.format(domain=domain), encoding="utf-8"
            )

    # --------------------------------------------------------------- lifecycle

    def is_running(self) -> bool:
        """Return whether the hass process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start hass, onboard the owner on first start, promote the HTTP config, wait."""
        if self.is_running():
            return
        if not (self.config_dir / "configuration.yaml").exists():
            self.write_config()
        if not port_is_free(self.port):
            raise HassError(f"port {self.port} is already in use")
        self.timings = {}
        began = time.monotonic()
        self._log_file = self.log_path.open("ab")
        self._log_offset = len(self.log_text())
        self._log_file.write(f"\n===== harness: starting hass on {self.url}\n".encode())
        self._log_file.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = spawn(
            [
                *hass_command(),
                "--config",
                str(self.config_dir),
                "--skip-pip-packages",
                SKIP_PIP_PACKAGES,
                "--log-no-color",
            ],
            cwd=self.config_dir,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            if self._onboarded_on_disk():
                # Onboarding's views are only registered while it is not done.
                wait_until(
                    self._probe_auth_providers,
                    timeout=timeout,
                    what=f"Home Assistant at {self.url}",
                    check_alive=self._check_alive,
                )
                self.timings["http_ready"] = time.monotonic() - began
            else:
                steps = wait_until(
                    self._probe_onboarding,
                    timeout=timeout,
                    what=f"Home Assistant at {self.url}",
                    check_alive=self._check_alive,
                )
                self.timings["http_ready"] = time.monotonic() - began
                self._onboard(steps)
                self.timings["onboarded"] = time.monotonic() - began
            self._promote_http_config()
            remaining = max(timeout - (time.monotonic() - began), 5.0)
            wait_until(
                self._probe_running,
                timeout=remaining,
                what="Home Assistant to reach the RUNNING state",
                check_alive=self._check_alive,
            )
            self.timings["running"] = time.monotonic() - began
        except BaseException as err:
            self.stop()
            if "log tail" not in str(err):
                err.add_note(f"hass log tail ({self.log_path}):\n{self.log_tail(60)}")
            raise

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Stop hass (SIGTERM to its process group, SIGKILL after timeout)."""
        code: int | None = None
        if self._proc is not None:
            code = stop_process_group(self._proc, timeout)
            self._proc = None
        if self._log_file is not None:
            self._log_file.write(f"===== harness: hass stopped (exit code {code})\n".encode())
            self._log_file.close()
            self._log_file = None
        return code

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Stop and start the same instance (same port, config and storage)."""
        self.stop()
        self.start(timeout)

    def _check_alive(self) -> None:
        """Raise with the log tail when the process has exited or gave up on the config."""
        if self._proc is not None and self._proc.poll() is not None:
            raise HassError(
                f"hass exited with code {self._proc.returncode} during start-up; "
                f"log tail ({self.log_path}):\n{self.log_tail(60)}"
            )
        text = self.log_text()[self._log_offset :]
        if marker := next((m for m in FATAL_LOG_MARKERS if m in text), None):
            # Recovery mode serves the *stable* HTTP config (port 8123), never ours.
            raise HassError(
                f"hass logged {marker!r} during start-up (bad configuration?); "
                f"log tail ({self.log_path}):\n{self.log_tail(60)}"
            )

    def _onboarded_on_disk(self) -> bool:
        """Return whether the stored onboarding state has every step done."""
        try:
            stored = json.loads((self.config_dir / ".storage" / "onboarding").read_text())
            done = set(stored["data"]["done"])
        except OSError, ValueError, KeyError, TypeError:
            return False
        return done >= ONBOARDING_STEPS

    def _probe_auth_providers(self) -> bool | None:
        """Return True once the login API answers."""
        try:
            response = http_request("GET", f"{self.url}/auth/providers", timeout=2)
        except OSError:
            return None
        return True if response.status == 200 else None

    def _probe_onboarding(self) -> list[dict[str, Any]] | None:
        """Return the onboarding steps once the HTTP server answers."""
        try:
            response = http_request("GET", f"{self.url}/api/onboarding", timeout=2)
        except OSError:
            return None
        if response.status != 200:
            return None
        steps: list[dict[str, Any]] = response.json()
        return steps

    def _probe_running(self) -> bool | None:
        """Return True once the core state is RUNNING."""
        try:
            response = self.api("GET", "/api/config")
        except OSError:
            return None
        if response.status == 200 and response.json().get("state") == "RUNNING":
            return True
        return None

    # -------------------------------------------------------------- onboarding

    def _onboard(self, steps: list[dict[str, Any]]) -> None:
        """Run the onboarding steps the frontend's wizard would do."""
        done = {step["step"] for step in steps if step["done"]}
        if "user" not in done:
            response = http_request(
                "POST",
                f"{self.url}/api/onboarding/users",
                json_body={
                    "client_id": self.client_id,
                    "name": self.owner_name,
                    "username": self.owner_username,
                    "password": self.owner_password,
                    "language": "en",
                },
            )
            self._expect(response, "onboarding: create owner")
            self._store_tokens(self._exchange_code(response.json()["auth_code"]))
        if "core_config" not in done:
            self._expect(self.api("POST", "/api/onboarding/core_config", {}), "core_config")
        if "analytics" not in done:
            self._expect(self.api("POST", "/api/onboarding/analytics", {}), "analytics")
        if "integration" not in done:
            response = self.api(
                "POST",
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": self.redirect_uri},
            )
            self._expect(response, "onboarding: integration")

    def _promote_http_config(self) -> None:
        """Confirm the HTTP settings from YAML, which HA 2026.10 treats as pending.

        Without this, HA reverts to the stable HTTP config (port 8123) and restarts
        five minutes after start-up.
        """
        config = self.ws_command("http/config")
        pending = config.get("pending")
        if pending is not None and pending.get("error") is None:
            self.ws_command("http/config/promote")
            config = self.ws_command("http/config")
        if config.get("pending") is not None or config.get("revert_at") is not None:
            raise HassError(f"HTTP config still pending after promotion: {config}")
        if config["stable"].get("server_port") != self.port:
            raise HassError(f"stable HTTP config does not use port {self.port}: {config}")

    # ------------------------------------------------------------------- HTTP

    @staticmethod
    def _expect(response: HttpResponse, what: str) -> None:
        """Raise unless the response is a 200."""
        if response.status != 200:
            raise HassError(f"{what}: HTTP {response.status}: {response.text}")

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> HttpResponse:
        """Send a request to this instance (path relative to the base URL)."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return http_request(
            method, f"{self.url}{path}", json_body=json_body, form=form, headers=all_headers
        )

    def api(self, method: str, path: str, json_body: Any = None) -> HttpResponse:
        """Send a request authenticated as the owner."""
        return self.request(method, path, json_body=json_body, token=self.access_token())

    def _exchange_code(self, code: str) -> dict[str, Any]:
        """Exchange an authorization code for tokens."""
        response = self.request(
            "POST",
            "/auth/token",
            form={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        )
        self._expect(response, "token exchange")
        tokens: dict[str, Any] = response.json()
        return tokens

    def _store_tokens(self, tokens: Mapping[str, Any]) -> None:
        """Remember the owner's tokens."""
        if "refresh_token" in tokens:
            self._refresh_token = tokens["refresh_token"]
        self._access_token = tokens["access_token"]
        self._access_token_expires = time.monotonic() + float(tokens["expires_in"]) - 60

    def access_token(self) -> str:
        """Return a valid access token of the owner (refreshed or via the login flow)."""
        if self._access_token is not None and time.monotonic() < self._access_token_expires:
            return self._access_token
        if self._refresh_token is not None:
            response = self.request(
                "POST",
                "/auth/token",
                form={
                    "grant_type": "refresh_token",
                    "refresh_token": self._refresh_token,
                    "client_id": self.client_id,
                },
            )
            if response.status == 200:
                self._store_tokens(response.json())
                assert self._access_token is not None
                return self._access_token
        self._store_tokens(self.login_flow_tokens(self.owner_username, self.owner_password))
        assert self._access_token is not None
        return self._access_token

    def login_flow_tokens(
        self,
        username: str,
        password: str,
        handler: Sequence[str | None] = ("homeassistant", None),
    ) -> dict[str, Any]:
        """Log in through HA's login flow API (like the login page) and return the tokens."""
        response = self.request(
            "POST",
            "/auth/login_flow",
            json_body={
                "client_id": self.client_id,
                "handler": list(handler),
                "redirect_uri": self.redirect_uri,
            },
        )
        self._expect(response, "login flow: start")
        flow_id = response.json()["flow_id"]
        response = self.request(
            "POST",
            f"/auth/login_flow/{flow_id}",
            json_body={"client_id": self.client_id, "username": username, "password": password},
        )
        self._expect(response, "login flow: credentials")
        result = response.json()
        if result.get("type") != "create_entry":
            raise HassError(f"login flow for {username!r} did not succeed: {result}")
        return self._exchange_code(result["result"])

    # -------------------------------------------------------------- websocket

    def ws_command(self, command_type: str, /, **fields: Any) -> Any:
        """Send one websocket command as the owner and return its result."""
        return self.ws_commands([{"type": command_type, **fields}])[0]

    def ws_commands(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> list[Any]:
        """Send websocket commands in one session (owner unless token); return the results.

        Runs aiohttp on a private thread: the main thread may have Playwright's event
        loop marked as running, so asyncio.run() cannot be used there.
        """
        token = token or self.access_token()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="e2e-ws") as executor:
            coro = self._ws_session(token, messages, aiohttp.ClientTimeout(total=timeout))
            future = executor.submit(asyncio.run, coro)
            return future.result(timeout + 5)

    async def _ws_session(
        self,
        token: str,
        messages: Sequence[Mapping[str, Any]],
        client_timeout: aiohttp.ClientTimeout,
    ) -> list[Any]:
        """Authenticate on /api/websocket and run the commands in order."""
        results: list[Any] = []
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.ws_connect(f"{self.url}/api/websocket") as ws,
        ):
            hello = await ws.receive_json()
            if hello.get("type") != "auth_required":
                raise HassError(f"unexpected websocket greeting: {hello}")
            await ws.send_json({"type": "auth", "access_token": token})
            auth = await ws.receive_json()
            if auth.get("type") != "auth_ok":
                raise HassError(f"websocket authentication failed: {auth}")
            for msg_id, message in enumerate(messages, start=1):
                await ws.send_json({**message, "id": msg_id})
                while True:
                    reply = await ws.receive_json()
                    if reply.get("id") == msg_id and reply.get("type") == "result":
                        break
                if not reply.get("success"):
                    error = reply.get("error") or {}
                    raise HassWebsocketError(
                        str(message.get("type")),
                        str(error.get("code")),
                        str(error.get("message")),
                    )
                results.append(reply.get("result"))
        return results

    def list_users(self) -> list[dict[str, Any]]:
        """Return the users (with group_ids and credentials) from config/auth/list."""
        users: list[dict[str, Any]] = self.ws_command("config/auth/list")
        return users

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        """Return the user with this display name or username, if any."""
        for user in self.list_users():
            if name in (user.get("name"), user.get("username")):
                return user
        return None

    # -------------------------------------------------------------------- logs

    def log_text(self) -> str:
        """Return everything hass printed (all starts of this instance)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        """Return the last lines of the hass log."""
        return tail(self.log_path, lines)

    def __repr__(self) -> str:
        """Describe the instance for test output."""
        state = "running" if self.is_running() else "stopped"
        return f"<HassInstance {self.url} {state} config={self.config_dir}>"
