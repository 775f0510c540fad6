"""The settings of one OpenID Provider: typed object, schema, stored shape (YAML and UI).

One shape everywhere: the `auth_oidc:` YAML block, the config flow's forms (sections carry the
nested groups) and the stored config entry use the same keys. Each default is declared once, on
the dataclasses below; SETTINGS_SCHEMA takes its defaults from them. A config entry keeps what
connects to the provider, and the facts its check found, in `data` (DATA_KEYS); the choices the
options flow changes in `options` (OPTION_KEYS). `settings_from_entry` reads both.
"""

from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

import probatio as vol

from .oidc import (
    ASYMMETRIC_ALGS,
    HMAC_ALGS,
    ClientSettings,
    OIDCError,
    issuer_from_discovery_url,
)

# Config entry versions (ConfigFlow.VERSION): 1 kept everything in `data` (options overriding)
# with the PKCE switch as features.disable_rfc7636; 2 is the shape described above.
ENTRY_VERSION: Final = 2

BASE_SCOPES: Final = ("openid", "profile", "email")
SUPPORTED_SIGNING_ALGS: Final = (*ASYMMETRIC_ALGS, *HMAC_ALGS)


class DeviceLoginMode(StrEnum):
    """Where a device waiting for a cross-device login may be (`features.device_login`)."""

    OFF = "off"
    LOCAL = "local"  # Home Assistant's local networks only (homeassistant.util.network)
    ANYWHERE = "anywhere"


@dataclass(frozen=True, slots=True)
class Features:
    """Optional behaviour switches (`features:`)."""

    automatic_user_linking: bool = False
    automatic_person_creation: bool = True
    force_https: bool = False
    default_redirect: bool = False
    # RFC 8628 §5.4 (remote phishing): by default only a device on the home network may wait.
    device_login: DeviceLoginMode = DeviceLoginMode.LOCAL
    # False: ask the UserInfo endpoint only when the ID token lacks a configured claim.
    always_fetch_userinfo: bool = False
    end_provider_session: bool = False
    # Keep the provider's refresh tokens and re-check access every `recheck_interval` minutes.
    recheck_access: bool = False
    recheck_interval: int = 15


@dataclass(frozen=True, slots=True)
class ClaimNames:
    """Which ID token / userinfo claims carry the user's details (`claims:`)."""

    display_name: str = "name"
    username: str = "preferred_username"
    groups: str = "groups"

    @property
    def names(self) -> frozenset[str]:
        """Return the configured claim names."""
        return frozenset((self.display_name, self.username, self.groups))


@dataclass(frozen=True, slots=True)
class Roles:
    """Group names that grant roles (`roles:`); `user` set means required to log in."""

    admin: str | None = "admins"
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Network:
    """TLS options for requests to the provider (`network:`)."""

    tls_verify: bool = True
    tls_ca_path: str | None = None
    # Plain http:// to a non-loopback provider: only after an explicit opt-in.
    allow_insecure_http: bool = False


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    """What the provider supports (`provider:`): found by the UI's check, declared in YAML."""

    # RFC 7636 with S256 (RFC 9700 §2.1.1); False only for a provider that cannot do it.
    use_pkce: bool = True


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything one configured OpenID Provider needs, however it was configured."""

    client_id: str
    discovery_url: str
    client_secret: str | None = field(default=None, repr=False)
    display_name: str = "OpenID Connect (SSO)"
    id_token_signing_alg: str | None = None
    # The scope that makes the provider send groups; empty requests none.
    groups_scope: str = "groups"
    additional_scopes: tuple[str, ...] = ()
    features: Features = Features()
    claims: ClaimNames = ClaimNames()
    roles: Roles = Roles()
    network: Network = Network()
    provider: ProviderFacts = ProviderFacts()

    @property
    def scopes(self) -> tuple[str, ...]:
        """Return the scopes to request, without duplicates, `openid` first."""
        wanted = [*BASE_SCOPES]
        if self.groups_scope:
            wanted.append(self.groups_scope)
        wanted.extend(self.additional_scopes)
        return tuple(dict.fromkeys(wanted))

    @property
    def issuer(self) -> str:
        """Return the issuer the discovery URL names (the provider's identity)."""
        return issuer_from_discovery_url(
            self.discovery_url, allow_insecure_http=self.network.allow_insecure_http
        )

    def client_settings(self) -> ClientSettings:
        """Return the OpenID Connect core's settings for this provider."""
        return ClientSettings(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=self.scopes,
            id_token_signing_alg=self.id_token_signing_alg,
            use_pkce=self.provider.use_pkce,
            allow_insecure_http=self.network.allow_insecure_http,
            always_fetch_userinfo=self.features.always_fetch_userinfo,
            needed_claims=self.claims.names,
        )


# Every default in one object: the schema's top-level defaults and the forms' first suggestions.
DEFAULTS: Final = Settings(client_id="", discovery_url="")
DATA_KEYS: Final = (
    "client_id",
    "client_secret",
    "discovery_url",
    "display_name",
    "id_token_signing_alg",
    "network",
    "provider",
)
OPTION_KEYS: Final = ("groups_scope", "additional_scopes", "roles", "claims", "features")


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
    """Accept scopes as a list or a space-separated string; nothing means none."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split()
    scopes = vol.Schema([vol.All(str, vol.Match(r"^[\x21\x23-\x5B\x5D-\x7E]+$"))])(value)
    return list(scopes)


def _scope_or_none(value: Any) -> str:
    """Accept one scope, or an empty value for none."""
    if value is None:
        return ""
    return str(vol.All(str, vol.Strip, vol.Match(r"^[\x21\x23-\x5B\x5D-\x7E]*$"))(value))


def _existing_file(value: Any) -> str | None:
    """Validate a path to a readable CA bundle (None: no bundle)."""
    if value is None:
        return None
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


def _section_schema(cls: type[Any], **validators: Callable[[Any], Any] | type) -> vol.Schema:
    """Return the schema of one section: every field optional, defaulting to the dataclass's."""
    defaults = cls()
    markers: dict[vol.Marker, Any] = {}
    for item in fields(cls):
        default = getattr(defaults, item.name)
        validator = validators.get(item.name, bool if isinstance(default, bool) else MISSING)
        if validator is MISSING:
            raise TypeError(f"{cls.__name__}.{item.name} needs a validator")
        value = default.value if isinstance(default, StrEnum) else default
        markers[vol.Optional(item.name, default=value)] = validator
    return vol.Schema(markers)


# The nested groups of keys: YAML blocks, form sections and stored dicts alike.
SECTION_SCHEMAS: Final[Mapping[str, vol.Schema]] = {
    "features": _section_schema(
        Features,
        device_login=_device_login_mode,
        recheck_interval=vol.All(vol.Coerce(int), vol.Range(min=1, max=1440)),
    ),
    "claims": _section_schema(
        ClaimNames, display_name=_NON_EMPTY, username=_NON_EMPTY, groups=_NON_EMPTY
    ),
    "roles": _section_schema(Roles, admin=_optional_group, user=_optional_group),
    "network": _section_schema(Network, tls_ca_path=_existing_file),
    "provider": _section_schema(ProviderFacts),
}


def _renamed_keys(config: Any) -> Any:
    """Accept the YAML keys of earlier versions under their current names."""
    if not isinstance(config, Mapping) or not isinstance(config.get("features"), Mapping):
        return config
    config = dict(config)
    features = dict(config["features"])
    # features.disable_rfc7636 (before 2.0) is provider.use_pkce, inverted.
    if "disable_rfc7636" in features:
        disabled = vol.Schema(bool)(features.pop("disable_rfc7636"))
        provider = dict(config.get("provider") or {})
        provider.setdefault("use_pkce", not disabled)
        config["provider"] = provider
    # features.include_groups_scope: false (before 2.0) is an empty groups_scope.
    if "include_groups_scope" in features and not vol.Schema(bool)(
        features.pop("include_groups_scope")
    ):
        config["groups_scope"] = ""
    config["features"] = features
    return config


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
        vol.Optional("display_name", default=DEFAULTS.display_name): vol.All(
            str, vol.Strip, vol.Length(min=1, max=64)
        ),
        vol.Optional("id_token_signing_alg"): vol.In(SUPPORTED_SIGNING_ALGS),
        vol.Optional("groups_scope", default=DEFAULTS.groups_scope): _scope_or_none,
        vol.Optional("additional_scopes", default=list): _scope_list,
        **{vol.Optional(name, default=dict): schema for name, schema in SECTION_SCHEMAS.items()},
    }
)
SETTINGS_SCHEMA: Final = vol.All(
    _renamed_keys, _SETTINGS_FIELDS, _https_unless_allowed, _hmac_needs_secret
)


class StoredEntry(Protocol):
    """The parts of a config entry that hold settings."""

    @property
    def data(self) -> Mapping[str, Any]:
        """Return the connection and the provider's facts."""

    @property
    def options(self) -> Mapping[str, Any]:
        """Return the user's choices."""


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    """Build settings from a validated or stored config; a missing key takes its default."""
    features = dict(config.get("features", {}))
    if "device_login" in features:
        features["device_login"] = DeviceLoginMode(features["device_login"])
    plain = {key: config[key] for key in ("display_name", "groups_scope") if key in config}
    return Settings(
        client_id=config["client_id"],
        discovery_url=config["discovery_url"],
        client_secret=config.get("client_secret") or None,
        id_token_signing_alg=config.get("id_token_signing_alg") or None,
        additional_scopes=tuple(config.get("additional_scopes", ())),
        features=Features(**features),
        claims=ClaimNames(**config.get("claims", {})),
        roles=Roles(**config.get("roles", {})),
        network=Network(**config.get("network", {})),
        provider=ProviderFacts(**config.get("provider", {})),
        **plain,
    )


def settings_from_entry(entry: StoredEntry) -> Settings:
    """Build the settings of a config entry (data and options together)."""
    return settings_from_config({**entry.data, **entry.options})


def config_from_settings(settings: Settings) -> dict[str, Any]:
    """Return the stored shape of `settings` (JSON types, no empty optional values)."""
    config = asdict(settings)
    config["additional_scopes"] = list(settings.additional_scopes)
    config["features"]["device_login"] = settings.features.device_login.value
    return {key: value for key, value in config.items() if value is not None}


def split_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a validated config into a config entry's data and options."""
    data = {key: config[key] for key in DATA_KEYS if config.get(key) is not None}
    options = {key: config[key] for key in OPTION_KEYS if key in config}
    return data, options


def with_changes(config: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Return `config` with `changes` applied; a changed section keeps its other keys."""
    merged = dict(config)
    for key, value in changes.items():
        if key in SECTION_SCHEMAS and isinstance(value, Mapping):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


def migrate_v1(
    data: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the data and options of version 2 for an entry stored by version 1."""
    # Version 1's options replaced whole sections of its data.
    return split_config(_renamed_keys({**data, **options}))


def validate_settings(config: Mapping[str, Any]) -> Settings:
    """Validate raw options (as written in YAML) and build settings; raise vol.Invalid."""
    return settings_from_config(SETTINGS_SCHEMA(dict(config)))
