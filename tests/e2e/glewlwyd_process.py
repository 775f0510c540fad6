"""Glewlwyd 2.7 (Debian's ``glewlwyd``), a second, independent OpenID Provider, as a child process.

Each instance lives in its own directory: a configuration file, a SQLite database made by
the package's own init script (it creates the administrator ``admin``/``password``) and a
copy of the package's login web app with a real ``config.json`` (the packaged one is a
symlink, and Glewlwyd's static file server refuses files reached through symlinks).
Everything else is configured like an administrator would, through the admin REST API:
the ``groups`` user property, scopes, users, clients, the OpenID Connect plugin (issuer
``http://127.0.0.1:<port>/api/oidc``, one RS256, ES256 and Ed25519 key each) and each
user's consent, granted ahead through the delegation API.

Facts of Glewlwyd that shape this module:

* ``use_secure_connection`` must be left out for plain http (false still wants
  certificate paths); cookies are not ``Secure`` so the browser keeps them on http.
* Scopes are database objects that a user must hold and grant to the client (the login
  app otherwise shows a consent step). ``nonce`` is mandatory with ``openid``.
* ``preferred_username`` and ``groups`` are plugin claims; ``groups`` comes from a
  multi-valued user property, which the database user backend keeps only when its
  ``data-format`` declares it. A user without the property gets no ``groups`` claim.
* Glewlwyd 2.7.5 signs with the first key of the plugin's ``jwks-private`` (setting
  ``default-kid`` alone does not switch it), and reads its parameters when the plugin
  starts: switching the algorithm puts that key first and restarts the plugin. All three
  keys stay in the JWKS, so a relying party that fetched it once verifies every one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from joserfc.jwk import ECKey, OKPKey, RSAKey

from .support import (
    LOOPBACK,
    HttpResponse,
    free_port,
    http_request,
    spawn,
    stop_process_group,
    tail,
    wait_until,
)

GLEWLWYD_BINARY = Path("/usr/bin/glewlwyd")
PACKAGE_WEBAPP = Path("/usr/share/glewlwyd/webapp")
# The package's SQLite init script (the copy under /usr/share/doc may be excluded by dpkg).
INIT_SQL = Path("/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3")
MODULE_ROOT = Path("/usr/lib/glewlwyd")
START_TIMEOUT = 20.0

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "password"  # set by the package's init script
PLUGIN_NAME = "oidc"
CALLBACK_PATH = "/auth/oidc/callback"
PUBLIC_CLIENT_ID = "home-assistant"
CONFIDENTIAL_CLIENT_ID = "home-assistant-confidential"
CONFIDENTIAL_CLIENT_SECRET = "home-assistant-confidential-secret"
SCOPES = ("openid", "profile", "email", "groups")
SIGNING_ALGS = ("RS256", "ES256", "EdDSA")

USERS: tuple[Mapping[str, Any], ...] = (
    {
        "username": "alice",
        "password": "alice-password",
        "name": "Alice Admin",
        "email": "alice@example.com",
        "groups": ["admins", "users"],
    },
    {
        "username": "bob",
        "password": "bob-password",
        "name": "Bob User",
        "email": "bob@example.com",
        "groups": ["users"],
    },
    # No groups property: Glewlwyd leaves the groups claim out.
    {"username": "carol", "password": "carol-password", "name": "Carol Outsider"},
)

_MIME_TYPES = {
    ".html": "text/html",
    ".js": "application/javascript",
    ".json": "application/json",
    ".css": "text/css",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".svg": "image/svg+xml",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".map": "application/octet-stream",
}


class GlewlwydError(RuntimeError):
    """Glewlwyd is missing, did not start or refused the configuration."""


def check_installed() -> None:
    """Fail clearly when Debian's glewlwyd package is missing."""
    for path in (GLEWLWYD_BINARY, PACKAGE_WEBAPP, INIT_SQL, MODULE_ROOT / "plugin"):
        if not path.exists():
            raise GlewlwydError(
                f"{path} does not exist: run scripts/setup (it installs Debian's glewlwyd)"
            )


def signing_keys() -> dict[str, dict[str, Any]]:
    """Return a new private JWK per algorithm, each with its alg and its thumbprint as kid."""
    keys: dict[str, RSAKey | ECKey | OKPKey] = {
        "RS256": RSAKey.generate_key(2048),
        "ES256": ECKey.generate_key("P-256"),
        "EdDSA": OKPKey.generate_key("Ed25519"),
    }
    return {
        alg: {**key.as_dict(private=True), "alg": alg, "use": "sig", "kid": key.thumbprint()}
        for alg, key in keys.items()
    }


def _config_file(port: int, work_dir: Path) -> str:
    """Return glewlwyd.conf (libconfig syntax) for plain http on 127.0.0.1:port."""
    mime_types = ",\n".join(
        f'  {{ extension = "{ext}"\n    mime_type = "{mime}"\n    compress = 0 }}'
        for ext, mime in _MIME_TYPES.items()
    )
    return f"""\
port = {port}
bind_address = "{LOOPBACK}"
external_url = "http://{LOOPBACK}:{port}"
login_url = "login.html"
api_prefix = "api"
static_files_path = "{work_dir / "webapp"}/"
allow_origin = "*"
log_mode = "console"
log_level = "INFO"
cookie_domain = ""
cookie_secure = 0
session_expiration = 3600
session_key = "GLEWLWYD2_SESSION_ID"
admin_scope = "g_admin"
profile_scope = "g_profile"
user_module_path = "{MODULE_ROOT / "user"}"
user_middleware_module_path = "{MODULE_ROOT / "user_middleware"}"
client_module_path = "{MODULE_ROOT / "client"}"
user_auth_scheme_module_path = "{MODULE_ROOT / "scheme"}"
plugin_module_path = "{MODULE_ROOT / "plugin"}"
hash_algorithm = "SHA512"
database = {{
  type = "sqlite3"
  path = "{work_dir / "glewlwyd.db"}"
}};
static_files_mime_types = (
{mime_types}
)
"""


def _copy_resolved(source: Path, target: Path, *, skip: set[Path]) -> None:
    """Copy a tree, each symlink replaced by its target (the static server refuses links)."""
    for path in sorted(source.rglob("*")):
        if path in skip:
            continue
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path.resolve(), destination)


class GlewlwydProcess:
    """One running Glewlwyd with the test users and clients for one hass URL."""

    def __init__(self, work_dir: Path, *, hass_url: str, port: int = 0) -> None:
        """Describe the instance; nothing starts before start()."""
        self.work_dir = work_dir
        self.hass_url = hass_url
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.issuer = f"{self.url}/api/{PLUGIN_NAME}"
        self.log_path = work_dir / "glewlwyd.log"
        self.keys = signing_keys()
        self.signing_alg = "RS256"
        self._admin_cookie = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # --------------------------------------------------------------- lifecycle

    def is_running(self) -> bool:
        """Return whether the glewlwyd process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Prepare the directory, start glewlwyd and configure it through its admin API."""
        check_installed()
        self._prepare_directory()
        self._log_file = self.log_path.open("ab")
        self._proc = spawn(
            [str(GLEWLWYD_BINARY), "--config-file", str(self.work_dir / "glewlwyd.conf")],
            cwd=self.work_dir,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(
                self._answers,
                timeout=timeout,
                what=f"Glewlwyd on {self.url}",
                check_alive=self._check_alive,
            )
            self._configure()
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Stop glewlwyd (SIGTERM to its process group, SIGKILL after timeout)."""
        if self._proc is not None:
            stop_process_group(self._proc, timeout)
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _prepare_directory(self) -> None:
        """Write the config, create the database and copy the login web app."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "glewlwyd.conf").write_text(
            _config_file(self.port, self.work_dir), encoding="utf-8"
        )
        with sqlite3.connect(self.work_dir / "glewlwyd.db") as database:
            database.executescript(INIT_SQL.read_text(encoding="utf-8"))
        database.close()
        webapp = self.work_dir / "webapp"
        _copy_resolved(PACKAGE_WEBAPP, webapp, skip={PACKAGE_WEBAPP / "config.json"})
        (webapp / "config.json").write_text(
            json.dumps(
                {
                    "GlewlwydUrl": f"{self.url}/",
                    "ProfileUrl": f"{self.url}/profile.html",
                    "AdminUrl": f"{self.url}/index.html",
                    "LoginUrl": f"{self.url}/login.html",
                    "lang": ["en"],
                    "defaultScheme": "",
                    "sessionSchemes": [],
                    "register": False,
                }
            ),
            encoding="utf-8",
        )

    def _check_alive(self) -> None:
        """Raise when glewlwyd exited."""
        if self._proc is not None and self._proc.poll() is not None:
            raise GlewlwydError(
                f"glewlwyd exited with code {self._proc.returncode}; log tail:\n{self.log_tail()}"
            )

    def _answers(self) -> bool | None:
        """Return True once the server answers /config/."""
        try:
            return http_request("GET", f"{self.url}/config/", timeout=2).status == 200 or None
        except OSError:
            return None

    # ------------------------------------------------------------ admin API

    def _admin(self, method: str, path: str, body: Any = None) -> HttpResponse:
        """Call the admin REST API as admin; raise unless it answers 200."""
        if not self._admin_cookie:
            response = http_request(
                "POST",
                f"{self.url}/api/auth/",
                json_body={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
            )
            if response.status != 200:
                raise GlewlwydError(f"admin login: HTTP {response.status}: {response.text}")
            self._admin_cookie = response.headers["Set-Cookie"].split(";", 1)[0]
        response = http_request(
            method, f"{self.url}/api{path}", json_body=body, headers={"Cookie": self._admin_cookie}
        )
        if response.status != 200:
            raise GlewlwydError(f"{method} /api{path}: HTTP {response.status}: {response.text}")
        return response

    def _configure(self) -> None:
        """Create the property, scopes, users, clients, plugin and grants."""
        self._declare_groups_property()
        for scope in SCOPES[1:]:
            self._admin(
                "POST",
                "/scope/",
                {
                    "name": scope,
                    "display_name": scope,
                    "description": f"OpenID Connect scope {scope}",
                    "password_required": True,
                    "password_max_age": 0,
                    "scheme": {},
                },
            )
        for user in USERS:
            self._admin("POST", "/user/", {**user, "enabled": True, "scope": list(SCOPES)})
        redirect_uri = f"{self.hass_url}{CALLBACK_PATH}"
        self._admin(
            "POST",
            "/client/",
            {
                "client_id": PUBLIC_CLIENT_ID,
                "name": "Home Assistant",
                "confidential": False,
                "enabled": True,
                "redirect_uri": [redirect_uri],
                "authorization_type": ["code"],
                "token_endpoint_auth_method": ["none"],
                "scope": [],
            },
        )
        self._admin(
            "POST",
            "/client/",
            {
                "client_id": CONFIDENTIAL_CLIENT_ID,
                "name": "Home Assistant (confidential)",
                "confidential": True,
                "password": CONFIDENTIAL_CLIENT_SECRET,
                "enabled": True,
                "redirect_uri": [redirect_uri],
                "authorization_type": ["code"],
                "token_endpoint_auth_method": ["client_secret_basic"],
                "scope": [],
            },
        )
        self._admin("POST", "/mod/plugin/", self._plugin(self.signing_alg))
        for user in USERS:
            for client_id in (PUBLIC_CLIENT_ID, CONFIDENTIAL_CLIENT_ID):
                self._admin(
                    "PUT",
                    f"/delegate/{user['username']}/auth/grant/{client_id}",
                    {"scope": " ".join(SCOPES)},
                )

    def _declare_groups_property(self) -> None:
        """Let the database user backend keep a multi-valued ``groups`` property."""
        module = self._admin("GET", "/mod/user/database").json()
        module["parameters"]["data-format"]["groups"] = {
            "multiple": True,
            "read": True,
            "write": True,
            "profile-read": True,
            "profile-write": False,
        }
        self._admin("PUT", "/mod/user/database", module)
        self._admin("PUT", "/mod/user/database/reset")  # the backend reads it at init

    def _plugin(self, alg: str) -> dict[str, Any]:
        """Return the OpenID Connect plugin instance signing ID tokens with alg's key."""
        return {
            "module": "oidc",
            "name": PLUGIN_NAME,
            "display_name": "OpenID Connect",
            "enabled": True,
            "parameters": {
                "iss": self.issuer,
                "jwks-private": json.dumps(
                    {"keys": sorted(self.keys.values(), key=lambda key: key["alg"] != alg)}
                ),
                "default-kid": self.keys[alg]["kid"],
                "jwks-show": True,
                "access-token-duration": 3600,
                "refresh-token-duration": 1209600,
                "code-duration": 600,
                "refresh-token-rolling": True,
                "allow-non-oidc": False,
                "auth-type-code-enabled": True,
                "auth-type-token-enabled": False,
                "auth-type-id-token-enabled": False,
                "auth-type-none-enabled": False,
                "auth-type-password-enabled": False,
                "auth-type-client-enabled": False,
                "auth-type-refresh-enabled": True,
                "pkce-allowed": True,
                "pkce-method-plain-allowed": False,
                "pkce-required-public-client": True,
                "name-claim": "mandatory",
                "email-claim": "mandatory",
                "claims": [
                    {
                        "name": "preferred_username",
                        "user-property": "username",
                        "type": "string",
                        "mandatory": False,
                        "on-demand": False,
                        "scope": ["profile"],
                    },
                    {
                        "name": "groups",
                        "user-property": "groups",
                        "type": "string",
                        "mandatory": False,
                        "on-demand": False,
                        "scope": ["groups"],
                    },
                ],
                "allowed-scope": list(SCOPES),
            },
        }

    def use_signing_alg(self, alg: str) -> None:
        """Sign the next ID tokens with alg's key (the JWKS keeps all keys)."""
        if alg != self.signing_alg:
            self._admin("PUT", f"/mod/plugin/{PLUGIN_NAME}", self._plugin(alg))
            self._admin("PUT", f"/mod/plugin/{PLUGIN_NAME}/reset")
            self.signing_alg = alg

    # -------------------------------------------------------------- addresses

    @property
    def discovery_url(self) -> str:
        """Return the OpenID configuration URL of the plugin."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def discovery(self) -> dict[str, Any]:
        """Return the OpenID configuration document."""
        document: dict[str, Any] = http_request("GET", self.discovery_url).json()
        return document

    def user(self, username: str) -> Mapping[str, Any]:
        """Return the test user (with password) by username."""
        for user in USERS:
            if user["username"] == username:
                return user
        raise KeyError(username)

    def issue_tokens(self, username: str) -> dict[str, Any]:
        """Run the public client's code flow for a user over HTTP; return the token response."""
        user = self.user(username)
        login = http_request(
            "POST",
            f"{self.url}/api/auth/",
            json_body={"username": username, "password": user["password"]},
        )
        if login.status != 200:
            raise GlewlwydError(f"login of {username}: HTTP {login.status}")
        cookie = login.headers["Set-Cookie"].split(";", 1)[0]
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        redirect_uri = f"{self.hass_url}{CALLBACK_PATH}"
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": PUBLIC_CLIENT_ID,
                "redirect_uri": redirect_uri,
                "scope": " ".join(SCOPES),
                "state": secrets.token_urlsafe(16),
                "nonce": secrets.token_urlsafe(16),
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
                "g_continue": "",  # what the login app's "Continue" button adds
            }
        )
        authorization = http_request(
            "GET", f"{self.issuer}/auth?{query}", headers={"Cookie": cookie}
        )
        location = urllib.parse.urlsplit(authorization.headers.get("Location", ""))
        [code] = urllib.parse.parse_qs(location.query).get("code", [""])
        if authorization.status != 302 or not code:
            raise GlewlwydError(f"authorization: HTTP {authorization.status}, no code")
        token = http_request(
            "POST",
            f"{self.issuer}/token",
            form={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": PUBLIC_CLIENT_ID,
                "code_verifier": verifier,
            },
        )
        if token.status != 200:
            raise GlewlwydError(f"token: HTTP {token.status}: {token.text}")
        tokens: dict[str, Any] = token.json()
        return tokens

    def log_tail(self, lines: int = 60) -> str:
        """Return the last lines of the glewlwyd log."""
        return tail(self.log_path, lines)

    def __repr__(self) -> str:
        """Describe the instance for test output."""
        state = "running" if self.is_running() else "stopped"
        return f"<GlewlwydProcess {self.issuer} {self.signing_alg} {state}>"
