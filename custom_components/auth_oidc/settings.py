"""Validate the integration's options into one typed settings object (YAML and config entries)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import voluptuous as vol

from .oidc import ASYMMETRIC_ALGS, HMAC_ALGS, OIDCError, issuer_from_discovery_url

DEFAULT_DISPLAY_NAME = "OpenID Connect (SSO)"
DEFAULT_GROUPS_SCOPE = "groups"
DEFAULT_ADMIN_GROUP = "admins"
BASE_SCOPES = ("openid", "profile", "email")
SUPPORTED_SIGNING_ALGS = (*ASYMMETRIC_ALGS, *HMAC_ALGS)


class DeviceLoginMode(StrEnum):
    """Where a device waiting for a cross-device login may be (`features.device_login`)."""

    OFF = "off"
    LOCAL = "local"  # Home Assistant's local networks only (homeassistant.util.network)
    ANYWHERE = "anywhere"


# RFC 8628 §5.4 (remote phishing): by default only a device on the home network may wait.
DEFAULT_DEVICE_LOGIN = DeviceLoginMode.LOCAL
DEFAULT_RECHECK_INTERVAL = 15


@dataclass(frozen=True, slots=True)
class Features:
    """Optional behaviour switches (`features:` in YAML)."""

    automatic_user_linking: bool = False
    automatic_person_creation: bool = True
    disable_rfc7636: bool = False
    include_groups_scope: bool = True
    force_https: bool = False
    default_redirect: bool = False
    device_login: DeviceLoginMode = DEFAULT_DEVICE_LOGIN
    # False: ask the UserInfo endpoint only when the ID token lacks a configured claim.
    always_fetch_userinfo: bool = False
    end_provider_session: bool = False
    recheck_access: bool = False
    recheck_interval: int = DEFAULT_RECHECK_INTERVAL  # minutes


@dataclass(frozen=True, slots=True)
class ClaimNames:
    """Which ID token / userinfo claims carry the user's details (`claims:` in YAML)."""

    display_name: str = "name"
    username: str = "preferred_username"
    groups: str = "groups"

    @property
    def names(self) -> frozenset[str]:
        """Return the configured claim names."""
        return frozenset((self.display_name, self.username, self.groups))


@dataclass(frozen=True, slots=True)
class Roles:
    """Group names that grant roles (`roles:` in YAML); `user` set means required to log in."""

    admin: str | None = DEFAULT_ADMIN_GROUP
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Network:
    """TLS options for requests to the provider (`network:` in YAML)."""

    tls_verify: bool = True
    tls_ca_path: str | None = None
    # Plain http:// to a non-loopback provider: only after an explicit opt-in.
    allow_insecure_http: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything one configured OpenID Provider needs, however it was configured."""

    client_id: str
    discovery_url: str
    client_secret: str | None = field(default=None, repr=False)
    display_name: str = DEFAULT_DISPLAY_NAME
    id_token_signing_alg: str | None = None
    groups_scope: str = DEFAULT_GROUPS_SCOPE
    additional_scopes: tuple[str, ...] = ()
    features: Features = Features()
    claims: ClaimNames = ClaimNames()
    roles: Roles = Roles()
    network: Network = Network()

    @property
    def scopes(self) -> tuple[str, ...]:
        """Return the scopes to request, without duplicates, `openid` first."""
        wanted = [*BASE_SCOPES]
        if self.features.include_groups_scope and self.groups_scope:
            wanted.append(self.groups_scope)
        wanted.extend(self.additional_scopes)
        return tuple(dict.fromkeys(wanted))


def _discovery_url(value: Any) -> str:
    """Validate the shape of a discovery URL: absolute http(s), ending in the well-known path."""
    url = str(vol.All(str, vol.Strip, vol.Length(min=1, max=2048))(value))
    try:
        # The scheme is checked with the whole config: network.allow_insecure_http decides.
        issuer_from_discovery_url(url, allow_insecure_http=True)
    except OIDCError as err:
        raise vol.Invalid(err.detail or err.code) from err
    return url


def _scope_list(value: Any) -> list[str]:
    """Accept scopes as a list or a space-separated string."""
    if isinstance(value, str):
        value = value.split()
    scopes = vol.Schema([vol.All(str, vol.Match(r"^[\x21\x23-\x5B\x5D-\x7E]+$"))])(value)
    return list(scopes)


def _existing_file(value: Any) -> str:
    """Validate a path to a readable CA bundle."""
    path = vol.All(str, vol.Length(min=1))(value)
    if not Path(path).is_file():
        raise vol.Invalid(f"file not found: {path}")
    return str(path)


def _optional_group(value: Any) -> str | None:
    """Accept a group name, or an empty value for none."""
    if value is None or value == "":
        return None
    return str(vol.All(str, vol.Length(max=256))(value))


def _device_login_mode(value: Any) -> str:
    """Accept off, local or anywhere; YAML 1.1 reads a bare `off` as false."""
    if value is False:
        return DeviceLoginMode.OFF.value
    if isinstance(value, str) and value.strip().lower() in set(DeviceLoginMode):
        return DeviceLoginMode(value.strip().lower()).value
    raise vol.Invalid(f"expected one of {', '.join(DeviceLoginMode)}")


_NON_EMPTY = vol.All(str, vol.Strip, vol.Length(min=1, max=256))

FEATURES_SCHEMA = vol.Schema(
    {
        vol.Optional("automatic_user_linking", default=False): bool,
        vol.Optional("automatic_person_creation", default=True): bool,
        vol.Optional("disable_rfc7636", default=False): bool,
        vol.Optional("include_groups_scope", default=True): bool,
        vol.Optional("force_https", default=False): bool,
        vol.Optional("default_redirect", default=False): bool,
        vol.Optional("device_login", default=DEFAULT_DEVICE_LOGIN.value): _device_login_mode,
        vol.Optional("always_fetch_userinfo", default=False): bool,
        vol.Optional("end_provider_session", default=False): bool,
        vol.Optional("recheck_access", default=False): bool,
        vol.Optional("recheck_interval", default=DEFAULT_RECHECK_INTERVAL): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=1440)
        ),
    }
)
CLAIMS_SCHEMA = vol.Schema(
    {
        vol.Optional("display_name", default="name"): _NON_EMPTY,
        vol.Optional("username", default="preferred_username"): _NON_EMPTY,
        vol.Optional("groups", default="groups"): _NON_EMPTY,
    }
)
ROLES_SCHEMA = vol.Schema(
    {
        vol.Optional("admin", default=DEFAULT_ADMIN_GROUP): _optional_group,
        vol.Optional("user", default=None): _optional_group,
    }
)
NETWORK_SCHEMA = vol.Schema(
    {
        vol.Optional("tls_verify", default=True): bool,
        vol.Optional("tls_ca_path"): _existing_file,
        vol.Optional("allow_insecure_http", default=False): bool,
    }
)


def _https_unless_allowed(config: dict[str, Any]) -> dict[str, Any]:
    """Refuse plain http to a non-loopback provider unless network.allow_insecure_http is set."""
    try:
        issuer_from_discovery_url(
            config["discovery_url"],
            allow_insecure_http=config["network"]["allow_insecure_http"],
        )
    except OIDCError as err:
        # OIDC Discovery 1.0 §7.1: metadata must be fetched over TLS.
        raise vol.Invalid(
            f"{err.detail}; set network.allow_insecure_http to allow it",
            path=["discovery_url"],
        ) from err
    return config


def _hmac_needs_secret(config: dict[str, Any]) -> dict[str, Any]:
    """Refuse HS* ID token algorithms without a client secret."""
    alg = config.get("id_token_signing_alg") or ""
    if alg.startswith("HS") and not config.get("client_secret"):
        # OIDC Core 1.0 §10.1: HMAC ID tokens are keyed with the client secret.
        raise vol.Invalid(
            "HS* signing algorithms need a client_secret", path=["id_token_signing_alg"]
        )
    return config


_SETTINGS_FIELDS = vol.Schema(
    {
        vol.Required("client_id"): _NON_EMPTY,
        vol.Optional("client_secret"): vol.All(str, vol.Length(min=1, max=4096)),
        vol.Required("discovery_url"): _discovery_url,
        vol.Optional("display_name", default=DEFAULT_DISPLAY_NAME): vol.All(
            str, vol.Strip, vol.Length(min=1, max=64)
        ),
        vol.Optional("id_token_signing_alg"): vol.In(SUPPORTED_SIGNING_ALGS),
        vol.Optional("groups_scope", default=DEFAULT_GROUPS_SCOPE): vol.All(
            str, vol.Match(r"^[\x21\x23-\x5B\x5D-\x7E]*$")
        ),
        vol.Optional("additional_scopes", default=list): _scope_list,
        vol.Optional("features", default=dict): FEATURES_SCHEMA,
        vol.Optional("claims", default=dict): CLAIMS_SCHEMA,
        vol.Optional("roles", default=dict): ROLES_SCHEMA,
        vol.Optional("network", default=dict): NETWORK_SCHEMA,
    }
)
SETTINGS_SCHEMA = vol.All(_SETTINGS_FIELDS, _https_unless_allowed, _hmac_needs_secret)


def _features_from_config(features: Mapping[str, Any]) -> Features:
    """Build the feature switches from validated options (the mode arrives as text)."""
    values = dict(features)
    if "device_login" in values:
        values["device_login"] = DeviceLoginMode(values["device_login"])
    return Features(**values)


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    """Build settings from already-validated options (SETTINGS_SCHEMA output or entry data)."""
    network = config.get("network", {})
    return Settings(
        client_id=config["client_id"],
        client_secret=config.get("client_secret") or None,
        discovery_url=config["discovery_url"],
        display_name=config.get("display_name", DEFAULT_DISPLAY_NAME),
        id_token_signing_alg=config.get("id_token_signing_alg") or None,
        groups_scope=config.get("groups_scope", DEFAULT_GROUPS_SCOPE),
        additional_scopes=tuple(config.get("additional_scopes", ())),
        features=_features_from_config(config.get("features", {})),
        claims=ClaimNames(**config.get("claims", {})),
        roles=Roles(**config.get("roles", {})),
        network=Network(
            tls_verify=network.get("tls_verify", True),
            tls_ca_path=network.get("tls_ca_path"),
            allow_insecure_http=network.get("allow_insecure_http", False),
        ),
    )


def validate_settings(config: Mapping[str, Any]) -> Settings:
    """Validate raw options (as written in YAML) and build settings; raise vol.Invalid."""
    return settings_from_config(SETTINGS_SCHEMA(dict(config)))
