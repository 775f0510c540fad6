"""The test OpenID Provider (``tools/oidc-provider/server.js``) as a child process."""

from __future__ import annotations

import copy
import json
import os
import select
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from .support import (
    LOOPBACK,
    REPO_ROOT,
    HttpResponse,
    http_request,
    spawn,
    stop_process_group,
    tail,
)

PROVIDER_DIR = REPO_ROOT / "tools" / "oidc-provider"
CALLBACK_PATH = "/auth/oidc/callback"
START_TIMEOUT = 30.0

PUBLIC_CLIENT_ID = "home-assistant"
CONFIDENTIAL_CLIENT_ID = "home-assistant-confidential"
CONFIDENTIAL_CLIENT_SECRET = "home-assistant-confidential-secret"

# The users of demo-config.json.
DEFAULT_USERS: tuple[Mapping[str, Any], ...] = (
    {
        "sub": "8f7c2b1e-4a3d-4e5f-9b6a-1c2d3e4f5a60",
        "username": "alice",
        "password": "alice-password",
        "name": "Alice Admin",
        "email": "alice@example.com",
        "email_verified": True,
        "groups": ["admins", "users"],
    },
    {
        "sub": "2b9d6c4a-7e1f-4c3b-8a5d-6e7f8091a2b3",
        "username": "bob",
        "password": "bob-password",
        "name": "Bob User",
        "email": "bob@example.com",
        "email_verified": True,
        "groups": ["users"],
    },
    {
        "sub": "c4e8a2d6-1b3f-4d5e-a7c9-0e2f4a6b8d10",
        "username": "carol",
        "password": "carol-password",
        "name": "Carol Outsider",
        "groups": [],
    },
)


class ProviderError(RuntimeError):
    """The test provider did not start or answer as expected."""


def node_command() -> str:
    """Return the node binary (env NODE_BINARY overrides the PATH lookup)."""
    node = os.environ.get("NODE_BINARY") or shutil.which("node")
    if not node:
        raise ProviderError("node (Node.js >= 20) is not on PATH; set NODE_BINARY")
    return node


def check_installed() -> None:
    """Fail clearly when the provider or its npm packages are missing."""
    if not (PROVIDER_DIR / "server.js").is_file():
        raise ProviderError(f"{PROVIDER_DIR.relative_to(REPO_ROOT)}/server.js does not exist")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise ProviderError(
            f"{PROVIDER_DIR.relative_to(REPO_ROOT)}/node_modules is missing: run scripts/setup "
            "(it runs `npm ci` there)"
        )


def default_clients(hass_url: str) -> list[dict[str, Any]]:
    """Return the public and the confidential client of demo-config.json for hass_url."""
    common = {
        "redirect_uris": [f"{hass_url}{CALLBACK_PATH}"],
        "post_logout_redirect_uris": [f"{hass_url}/", f"{hass_url}/auth/oidc/logged-out"],
    }
    return [
        {
            "client_id": PUBLIC_CLIENT_ID,
            "client_name": "Home Assistant",
            "token_endpoint_auth_method": "none",
            **copy.deepcopy(common),
        },
        {
            "client_id": CONFIDENTIAL_CLIENT_ID,
            "client_name": "Home Assistant (confidential)",
            "client_secret": CONFIDENTIAL_CLIENT_SECRET,
            "token_endpoint_auth_method": "client_secret_basic",
            **copy.deepcopy(common),
        },
    ]


class ProviderProcess:
    """One running test OpenID Provider."""

    def __init__(
        self,
        work_dir: Path,
        *,
        hass_url: str,
        alg: str = "RS256",
        port: int = 0,
        clients: Sequence[Mapping[str, Any]] | None = None,
        users: Sequence[Mapping[str, Any]] | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        """Describe the provider; nothing starts before start()."""
        self.work_dir = work_dir
        self.hass_url = hass_url
        self.alg = alg
        self.requested_port = port
        self.clients = [dict(c) for c in (clients or default_clients(hass_url))]
        self.users = [copy.deepcopy(dict(u)) for u in (users or DEFAULT_USERS)]
        self.extra_config = dict(extra_config or {})
        self.config_path = work_dir / "provider-config.json"
        self.log_path = work_dir / "provider.log"
        self.issuer = ""
        self.port = 0
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # --------------------------------------------------------------- lifecycle

    def config(self) -> dict[str, Any]:
        """Return the JSON config given to server.js."""
        return {
            "host": LOOPBACK,
            "port": self.requested_port,
            "issuer": f"http://{LOOPBACK}:{self.requested_port}" if self.requested_port else "auto",
            "alg": self.alg,
            "clients": self.clients,
            "users": self.users,
            **self.extra_config,
        }

    def is_running(self) -> bool:
        """Return whether the node process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start node server.js and wait for its ready line."""
        check_installed()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2), encoding="utf-8")
        began = time.monotonic()
        self._log_file = self.log_path.open("ab")
        self._proc = spawn(
            [node_command(), "server.js", str(self.config_path)],
            cwd=PROVIDER_DIR,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
        )
        try:
            ready = self._read_ready_line(timeout)
        except BaseException:
            self.stop()
            raise
        self.issuer = str(ready["issuer"])
        self.port = int(ready["port"])
        self.startup_seconds = time.monotonic() - began

    def _read_ready_line(self, timeout: float) -> dict[str, Any]:
        """Wait for the JSON ready line on stdout."""
        assert self._proc is not None
        assert self._proc.stdout is not None
        stdout = self._proc.stdout
        deadline = time.monotonic() + timeout
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(
                    f"provider not ready after {timeout:.0f} s; log tail:\n{self.log_tail()}"
                )
            readable, _, _ = select.select([stdout], [], [], min(remaining, 0.5))
            if readable:
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    self._proc.wait(5)
                    raise ProviderError(
                        f"provider exited with code {self._proc.returncode}; "
                        f"log tail ({self.log_path}):\n{self.log_tail()}"
                    )
                buffer += chunk
        line = buffer.split(b"\n", 1)[0]
        try:
            ready: dict[str, Any] = json.loads(line)
        except ValueError as err:
            raise ProviderError(f"unexpected provider output: {line!r}") from err
        if not ready.get("ready"):
            raise ProviderError(f"unexpected provider output: {line!r}")
        return ready

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the provider (SIGTERM to its process group, SIGKILL after timeout)."""
        if self._proc is not None:
            stop_process_group(self._proc, timeout)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Restart on the same port and issuer (in-memory sessions and keys are lost)."""
        self.stop()
        if self.port:
            self.requested_port = self.port
        self.start(timeout)

    # -------------------------------------------------------------- addresses

    @property
    def url(self) -> str:
        """Return the base URL (same as the issuer)."""
        return self.issuer

    @property
    def discovery_url(self) -> str:
        """Return the OpenID configuration URL."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def public_client_id(self) -> str:
        """Return the id of the public (PKCE) client."""
        return PUBLIC_CLIENT_ID

    @property
    def confidential_client_id(self) -> str:
        """Return the id of the confidential client."""
        return CONFIDENTIAL_CLIENT_ID

    @property
    def confidential_client_secret(self) -> str:
        """Return the secret of the confidential client."""
        return CONFIDENTIAL_CLIENT_SECRET

    def user(self, username: str) -> dict[str, Any]:
        """Return the configured user (with password) by username."""
        for user in self.users:
            if user["username"] == username:
                return user
        raise KeyError(username)

    # ------------------------------------------------------------ control API

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the provider's /test control API and return the JSON answer."""
        response: HttpResponse = http_request(method, f"{self.issuer}{path}", json_body=body)
        if response.status != 200:
            raise ProviderError(f"{method} {path}: HTTP {response.status}: {response.text}")
        return response.json()

    def discovery(self) -> dict[str, Any]:
        """Return the OpenID configuration document (counts as a discovery request)."""
        document: dict[str, Any] = http_request("GET", self.discovery_url).json()
        return document

    def set_user_groups(self, username: str, groups: Sequence[str]) -> dict[str, Any]:
        """Change a user's groups at runtime (next token/userinfo shows them)."""
        return self.update_user(username, groups=list(groups))

    def update_user(self, username: str, **fields: Any) -> dict[str, Any]:
        """Change user fields at runtime (name, email, password, ...; None removes)."""
        quoted = urllib.parse.quote(username, safe="")
        user: dict[str, Any] = self._control("POST", f"/test/users/{quoted}", fields)
        return user

    def request_counts(self) -> dict[str, int]:
        """Return how many requests each endpoint got."""
        counts: dict[str, int] = self._control("GET", "/test/requests")
        return counts

    def reset_counts(self) -> None:
        """Set all request counters to 0."""
        self._control("POST", "/test/reset-counters", {})

    def rotate_keys(self, *, keep_old: bool = True) -> dict[str, Any]:
        """Create a new signing key; return the new kid and all kids."""
        result: dict[str, Any] = self._control("POST", "/test/rotate-keys", {"keep_old": keep_old})
        return result

    # -------------------------------------------------------------------- logs

    def log_text(self) -> str:
        """Return what the provider wrote on stderr."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        """Return the last lines of the provider log."""
        return tail(self.log_path, lines)

    def __repr__(self) -> str:
        """Describe the provider for test output."""
        state = "running" if self.is_running() else "stopped"
        return f"<ProviderProcess {self.issuer or '(not started)'} {self.alg} {state}>"
