"""Set up OpenID Providers in the UI, reconfigure them, change their options, or import YAML.

Steps: user (pick a preset) → provider_url (provider address, checked live) → client (client ID
and secret; shows what was found and the callback URL to register) → roles (groups and
claims) → linking (user linking, persons, redirect). One config entry per issuer. Entry data
has the shape SETTINGS_SCHEMA produces; the options flow stores complete `roles`, `claims`
and `features` dicts in the options, which override the data (`entry.data | entry.options`).
"""

import logging
import ssl
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import probatio as vol
from homeassistant.config_entries import (
    SOURCE_IMPORT,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from . import load_ca_context
from .const import BACKCHANNEL_LOGOUT_PATH, CALLBACK_PATH, DOMAIN, INSPECT_PATH, LOGGED_OUT_PATH
from .health import create_yaml_ignored_issue, delete_issue
from .oidc import (
    ClientSettings,
    DiscoveryError,
    ErrorCode,
    JWKSCache,
    OIDCError,
    ProviderMetadata,
    allowed_algorithms,
    fetch_provider_metadata,
    issuer_from_discovery_url,
)
from .oidc.urls import is_secure_url
from .presets import PRESETS, Preset, PresetInputError, UrlField
from .runtime import DATA_DOMAIN, loaded_entry
from .settings import (
    DEFAULT_DEVICE_LOGIN,
    DEFAULT_RECHECK_INTERVAL,
    SETTINGS_SCHEMA,
    DeviceLoginMode,
    Settings,
    settings_from_config,
)

_LOGGER = logging.getLogger(__name__)

DISCOVERY_TIMEOUT: Final = 10.0
CALLBACK_URL_UNKNOWN: Final = "https://<home-assistant-address>" + CALLBACK_PATH
# Shown in the address fields' help; strings.json carries no URLs (hassfest).
EXAMPLE_URL: Final = "https://id.example.com"
FOUND: Final = "✓"
NOT_FOUND: Final = "?"
UNUSABLE: Final = "✗"

# OIDCError codes a discovery check can raise; each has a translated message in strings.json.
DISCOVERY_ERRORS: Final = frozenset(
    {
        ErrorCode.DISCOVERY_URL_INVALID,
        ErrorCode.DISCOVERY_UNREACHABLE,
        ErrorCode.DISCOVERY_TLS,
        ErrorCode.DISCOVERY_HTTP_STATUS,
        ErrorCode.DISCOVERY_NOT_JSON,
        ErrorCode.DISCOVERY_INVALID,
        ErrorCode.DISCOVERY_ISSUER_MISMATCH,
        ErrorCode.DISCOVERY_INSECURE_ENDPOINT,
        ErrorCode.DISCOVERY_NO_CODE_FLOW,
        ErrorCode.DISCOVERY_NO_S256,
        ErrorCode.DISCOVERY_NO_USABLE_ALG,
        ErrorCode.JWKS_UNREACHABLE,
        ErrorCode.JWKS_INVALID,
        ErrorCode.JWKS_EMPTY,
        ErrorCode.TIMEOUT,
        ErrorCode.RESPONSE_TOO_LARGE,
    }
)
# Where SETTINGS_SCHEMA reports a problem → the form field that holds the value.
FIELD_BY_PATH: Final[Mapping[tuple[str, ...], str]] = {
    ("client_id",): "client_id",
    ("client_secret",): "client_secret",
    ("display_name",): "display_name",
    ("discovery_url",): "discovery_url",
    ("groups_scope",): "groups_scope",
    ("additional_scopes",): "additional_scopes",
    ("roles", "admin"): "admin_group",
    ("roles", "user"): "user_group",
    ("claims", "groups"): "groups_claim",
    ("claims", "display_name"): "display_name_claim",
    ("claims", "username"): "username_claim",
}
OPTION_KEYS: Final = ("groups_scope", "additional_scopes", "roles", "claims", "features")

_TEXT = TextSelector()
_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_SECRET = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="off"))
_BOOLEAN = BooleanSelector()

CLIENT_SCHEMA: Final = vol.Schema(
    {
        vol.Required("client_id"): _TEXT,
        vol.Optional("client_secret"): _SECRET,
        vol.Required("display_name"): _TEXT,
    }
)
ROLES_SCHEMA: Final = vol.Schema(
    {
        vol.Optional("admin_group"): _TEXT,
        vol.Optional("user_group"): _TEXT,
        vol.Required("groups_claim"): _TEXT,
        vol.Optional("groups_scope"): _TEXT,
        vol.Required("display_name_claim"): _TEXT,
        vol.Required("username_claim"): _TEXT,
    }
)
LINKING_SCHEMA: Final = vol.Schema(
    {
        vol.Optional("automatic_user_linking", default=False): _BOOLEAN,
        vol.Optional("automatic_person_creation", default=True): _BOOLEAN,
        vol.Optional("default_redirect", default=False): _BOOLEAN,
    }
)
OPTIONS_SCHEMA: Final = ROLES_SCHEMA.extend(
    {
        vol.Optional("additional_scopes"): _TEXT,
        **LINKING_SCHEMA.schema,
        vol.Optional("force_https", default=False): _BOOLEAN,
        vol.Optional("end_provider_session", default=False): _BOOLEAN,
        vol.Optional("recheck_access", default=False): _BOOLEAN,
        vol.Optional("recheck_interval", default=DEFAULT_RECHECK_INTERVAL): NumberSelector(
            NumberSelectorConfig(
                min=1, max=1440, step=1, mode=NumberSelectorMode.BOX, unit_of_measurement="min"
            )
        ),
        vol.Optional("device_login", default=DEFAULT_DEVICE_LOGIN.value): SelectSelector(
            SelectSelectorConfig(
                options=[mode.value for mode in DeviceLoginMode],
                mode=SelectSelectorMode.LIST,
                translation_key="device_login",
            )
        ),
    }
)


@dataclass(slots=True)
class _Offers:
    """The extra discovery fields a failed check has offered the user."""

    tls_ca_path: bool = False
    allow_insecure_http: bool = False
    continue_without_pkce: bool = False

    def note(self, code: str) -> None:
        """Offer the field that lets the user get past this failure."""
        self.tls_ca_path |= code == ErrorCode.DISCOVERY_TLS
        self.allow_insecure_http |= code == ErrorCode.DISCOVERY_INSECURE_ENDPOINT
        self.continue_without_pkce |= code == ErrorCode.DISCOVERY_NO_S256

    def schema(self) -> dict[vol.Marker, Any]:
        """Return the offered fields."""
        fields: dict[vol.Marker, Any] = {}
        if self.tls_ca_path:
            fields[vol.Optional("tls_ca_path")] = _TEXT
        if self.allow_insecure_http:
            fields[vol.Optional("allow_insecure_http", default=False)] = _BOOLEAN
        if self.continue_without_pkce:
            fields[vol.Optional("continue_without_pkce", default=False)] = _BOOLEAN
        return fields


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a successful live check of a provider found."""

    discovery_url: str
    issuer: str
    metadata: ProviderMetadata
    algorithms: tuple[str, ...]
    pkce: bool
    network: dict[str, Any]


class _FieldError(Exception):
    """A form value cannot be used; `reason` is a translation key."""

    def __init__(self, field: str, reason: str) -> None:
        """Name the field and the reason."""
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


async def _async_ssl_context(hass: HomeAssistant, ca_path: str) -> ssl.SSLContext:
    """Return a context trusting the CA bundle at `ca_path`, or raise a field error."""
    try:
        return await hass.async_add_executor_job(load_ca_context, ca_path)
    except ssl.SSLError as err:
        raise _FieldError("tls_ca_path", "ca_file_invalid") from err
    except OSError as err:
        raise _FieldError("tls_ca_path", "ca_file_not_found") from err


def _uses_insecure_http(discovery_url: str, metadata: ProviderMetadata) -> bool:
    """Tell whether a provider URL is plain http off loopback, or in an https document."""
    urls = (
        discovery_url,
        metadata.authorization_endpoint,
        metadata.token_endpoint,
        metadata.jwks_uri,
        metadata.userinfo_endpoint or discovery_url,
    )
    downgrade = urlsplit(discovery_url).scheme == "https" and any(
        urlsplit(url).scheme == "http" for url in urls
    )
    return downgrade or not all(is_secure_url(url, allow_insecure_http=False) for url in urls)


async def async_check_provider(
    hass: HomeAssistant, discovery_url: str, user_input: Mapping[str, Any]
) -> Discovery:
    """Fetch and validate discovery and the JWKS once; raise OIDCError or a field error."""
    ca_path = str(user_input.get("tls_ca_path") or "").strip() or None
    allow_insecure_http = bool(user_input.get("allow_insecure_http"))
    ssl_context = await _async_ssl_context(hass, ca_path) if ca_path else None
    issuer = issuer_from_discovery_url(discovery_url, allow_insecure_http=allow_insecure_http)
    session = async_get_clientsession(hass)
    metadata = await fetch_provider_metadata(
        session,
        discovery_url,
        allow_insecure_http=allow_insecure_http,
        require_s256=False,
        timeout=DISCOVERY_TIMEOUT,
        ssl_context=ssl_context,
    )
    # The same rule as a YAML setup: S256 unless the provider lists methods without it.
    pkce = metadata.pkce_s256_usable
    # RFC 9700 §2.1.1: without S256 only an explicit choice continues without PKCE.
    if not pkce and not user_input.get("continue_without_pkce"):
        raise DiscoveryError(ErrorCode.DISCOVERY_NO_S256, "S256 is not advertised")
    algorithms = allowed_algorithms(metadata, ClientSettings(client_id=DOMAIN))
    await JWKSCache(
        session,
        metadata.jwks_uri,
        timeout=DISCOVERY_TIMEOUT,
        allow_insecure_http=allow_insecure_http,
        ssl_context=ssl_context,
    ).key_set()
    network: dict[str, Any] = {}
    if ca_path:
        network["tls_ca_path"] = ca_path
    if _uses_insecure_http(discovery_url, metadata):
        network["allow_insecure_http"] = True
    return Discovery(discovery_url, issuer, metadata, algorithms, pkce, network)


def callback_url(hass: HomeAssistant) -> str:
    """Return the callback URL to register at the provider, from Home Assistant's URLs."""
    # Configured URLs first, then the address this browser uses; a bare IP only as a last resort.
    for options in (
        {"prefer_external": True, "allow_ip": False},
        {"require_current_request": True},
        {"prefer_external": True},
    ):
        with suppress(NoURLAvailableError):
            return get_url(hass, **options) + CALLBACK_PATH
    return CALLBACK_URL_UNKNOWN


def backchannel_logout_url(callback: str) -> str:
    """Return the back-channel logout URL to register, next to the callback URL `callback`."""
    return callback.removesuffix(CALLBACK_PATH) + BACKCHANNEL_LOGOUT_PATH


def logged_out_url(hass: HomeAssistant) -> str:
    """Return the post-logout redirect URL to register at the provider."""
    return callback_url(hass).removesuffix(CALLBACK_PATH) + LOGGED_OUT_PATH


def _field_for(path: list[Any]) -> str:
    """Return the form field a SETTINGS_SCHEMA error path points to ("base" if none)."""
    keys = tuple(str(key) for key in path)
    return FIELD_BY_PATH.get(keys[:2]) or FIELD_BY_PATH.get(keys[:1]) or "base"


def _validate(
    config: Mapping[str, Any], schema: vol.Schema
) -> tuple[dict[str, Any], dict[str, str], str]:
    """Validate with SETTINGS_SCHEMA; return (validated, errors on `schema`'s fields, detail)."""
    try:
        return SETTINGS_SCHEMA(dict(config)), {}, ""
    except vol.Invalid as err:
        field = _field_for(err.path)
        shown = field if field in {str(key) for key in schema.schema} else "base"
        return {}, {shown: "invalid_value"}, str(err.msg)


def _roles_config(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Map the roles form to settings keys."""
    groups_scope = str(user_input.get("groups_scope") or "").strip()
    return {
        "groups_scope": groups_scope,
        "roles": {"admin": user_input.get("admin_group"), "user": user_input.get("user_group")},
        "claims": {
            "groups": user_input["groups_claim"],
            "display_name": user_input["display_name_claim"],
            "username": user_input["username_claim"],
        },
    }


def _features(current: Mapping[str, Any], user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the complete features dict with the form's switches applied."""
    features = dict(current)
    for key in ("automatic_user_linking", "automatic_person_creation", "default_redirect"):
        features[key] = user_input[key]
    return features


def _form_values(settings: Settings) -> dict[str, Any]:
    """Return the options form values that produce `settings`."""
    values: dict[str, Any] = {
        "admin_group": settings.roles.admin,
        "user_group": settings.roles.user,
        "groups_claim": settings.claims.groups,
        "groups_scope": settings.groups_scope if settings.features.include_groups_scope else "",
        "display_name_claim": settings.claims.display_name,
        "username_claim": settings.claims.username,
        "additional_scopes": " ".join(settings.additional_scopes),
        "automatic_user_linking": settings.features.automatic_user_linking,
        "automatic_person_creation": settings.features.automatic_person_creation,
        "default_redirect": settings.features.default_redirect,
        "force_https": settings.features.force_https,
        "end_provider_session": settings.features.end_provider_session,
        "recheck_access": settings.features.recheck_access,
        "recheck_interval": settings.features.recheck_interval,
        "device_login": settings.features.device_login.value,
    }
    return {key: value for key, value in values.items() if value is not None}


async def _async_check(
    hass: HomeAssistant, offers: _Offers, preset: Preset, user_input: Mapping[str, Any]
) -> tuple[Discovery | None, dict[str, str], str]:
    """Check the provider a discovery form names; return the result or (errors, detail)."""
    try:
        discovery_url = preset.discovery_url(user_input)
        return await async_check_provider(hass, discovery_url, user_input), {}, ""
    except PresetInputError as err:
        return None, {err.field.value: err.reason}, ""
    except _FieldError as err:
        return None, {err.field: err.reason}, ""
    except OIDCError as err:
        offers.note(err.code)
        code = err.code if err.code in DISCOVERY_ERRORS else "unknown"
        return None, {"base": code}, err.detail
    except Exception:
        _LOGGER.exception("Unexpected error while checking the provider")
        return None, {"base": "unknown"}, ""


class OIDCConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create one config entry per OpenID Provider (issuer)."""

    VERSION = 1
    # Set by the provider_url step before the client step can be shown.
    _discovery: Discovery

    def __init__(self) -> None:
        """Start a flow with the generic preset."""
        self._offers = _Offers()
        self._preset: Preset = PRESETS["other"]
        self._client_id_hint: str | None = None
        self._config: dict[str, Any] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OIDCOptionsFlow:
        """Return the options flow (roles, claims, features)."""
        return OIDCOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Let the user pick the kind of provider."""
        if user_input is not None:
            self._preset = PRESETS[user_input["preset"]]
            return await self.async_step_provider_url()
        schema = vol.Schema(
            {
                vol.Required("preset", default="pocket_id"): SelectSelector(
                    SelectSelectorConfig(
                        options=list(PRESETS),
                        translation_key="preset",
                        mode=SelectSelectorMode.LIST,
                    )
                )
            }
        )
        return self.async_show_form(step_id="user", data_schema=schema)

    async def async_step_provider_url(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the provider's address and check it live."""
        preset = self._preset
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            discovery, errors, detail = await _async_check(
                self.hass, self._offers, preset, user_input
            )
            if discovery is not None:
                await self.async_set_unique_id(discovery.issuer)
                self._abort_if_unique_id_configured()
                self._discovery = discovery
                self._client_id_hint = user_input.get(UrlField.CLIENT_ID)
                return await self.async_step_client()
        fields: dict[vol.Marker, Any] = {}
        for index, field in enumerate(preset.fields):
            marker = vol.Required if index == 0 else vol.Optional
            text_url = field in (UrlField.BASE_URL, UrlField.DISCOVERY_URL)
            fields[marker(field.value)] = _URL if text_url else _TEXT
        fields.update(self._offers.schema())
        return self.async_show_form(
            step_id="provider_url",
            data_schema=self.add_suggested_values_to_schema(vol.Schema(fields), user_input),
            errors=errors,
            description_placeholders={
                "provider": preset.name,
                "url_pattern": preset.discovery_pattern,
                "guide_url": preset.guide_url,
                "example_url": EXAMPLE_URL,
                "error_detail": detail,
            },
        )

    async def async_step_client(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the client registered at the provider; show what discovery found."""
        discovery = self._discovery
        preset = self._preset
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            config = self._client_config(discovery, user_input)
            errors = _client_errors(discovery, config.get("client_secret"))
            if not errors:
                _, errors, detail = _validate(config, CLIENT_SCHEMA)
            if not errors:
                self._config = config
                return await self.async_step_roles()
        groups_scope = preset.groups_scope or "groups"
        metadata = discovery.metadata
        suggested = user_input or {"client_id": self._client_id_hint, "display_name": preset.name}
        callback = callback_url(self.hass)
        return self.async_show_form(
            step_id="client",
            data_schema=self.add_suggested_values_to_schema(CLIENT_SCHEMA, suggested),
            errors=errors,
            description_placeholders={
                "provider": preset.name,
                "issuer": metadata.issuer,
                "algorithms": ", ".join(discovery.algorithms),
                "pkce": _pkce_mark(metadata),
                "groups_scope": groups_scope,
                "groups_scope_found": _found(groups_scope in metadata.scopes_supported),
                "groups_claim": preset.groups_claim,
                "groups_claim_found": _found(preset.groups_claim in metadata.claims_supported),
                "callback_url": callback,
                "backchannel_logout_url": backchannel_logout_url(callback),
                "error_detail": detail,
            },
        )

    def _client_config(self, discovery: Discovery, user_input: Mapping[str, Any]) -> dict[str, Any]:
        """Return the settings so far: provider, client, and the preset's defaults."""
        preset = self._preset
        config: dict[str, Any] = {
            "client_id": str(user_input["client_id"]).strip(),
            "discovery_url": discovery.discovery_url,
            "display_name": str(user_input["display_name"]).strip(),
            "groups_scope": preset.groups_scope,
            "features": {
                "disable_rfc7636": not discovery.pkce,
                "include_groups_scope": bool(preset.groups_scope),
            },
            "claims": {
                "groups": preset.groups_claim,
                "display_name": preset.display_name_claim,
                "username": preset.username_claim,
            },
            "roles": {"admin": preset.suggested_admin_group(discovery.discovery_url)},
            "network": dict(discovery.network),
        }
        if secret := str(user_input.get("client_secret") or "").strip():
            config["client_secret"] = secret
        return config

    async def async_step_roles(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask which groups grant which role and which claims carry the user's details."""
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            config = self._config | _roles_config(user_input)
            config["features"] = {
                **config["features"],
                "include_groups_scope": bool(config["groups_scope"]),
            }
            _, errors, detail = _validate(config, ROLES_SCHEMA)
            if not errors:
                self._config = config
                return await self.async_step_linking()
        preset = self._preset
        suggested_admin = self._config["roles"]["admin"]
        defaults = {
            "admin_group": suggested_admin,
            "groups_claim": preset.groups_claim,
            "groups_scope": preset.groups_scope,
            "display_name_claim": preset.display_name_claim,
            "username_claim": preset.username_claim,
        }
        return self.async_show_form(
            step_id="roles",
            data_schema=self.add_suggested_values_to_schema(ROLES_SCHEMA, user_input or defaults),
            errors=errors,
            description_placeholders={
                "provider": preset.name,
                "suggested_admin_group": suggested_admin,
                "guide_url": preset.guide_url,
                "error_detail": detail,
            },
        )

    async def async_step_linking(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask how SSO users meet existing users, persons and the login page; then save."""
        if user_input is None:
            return self.async_show_form(step_id="linking", data_schema=LINKING_SCHEMA)
        config = self._config | {"features": _features(self._config["features"], user_input)}
        data = SETTINGS_SCHEMA(config)
        return self.async_create_entry(title=data["display_name"], data=data)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the provider address, client and display name; check the provider again."""
        entry = self._get_reconfigure_entry()
        if entry.source == SOURCE_IMPORT:
            return self.async_abort(reason="yaml_managed")
        current = settings_from_config(entry.data | entry.options)
        self._offers.tls_ca_path |= current.network.tls_ca_path is not None
        self._offers.allow_insecure_http |= current.network.allow_insecure_http
        self._offers.continue_without_pkce |= current.features.disable_rfc7636
        schema = self._reconfigure_schema(current)
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            discovery, errors, detail = await _async_check(
                self.hass, self._offers, PRESETS["other"], user_input
            )
            if discovery is not None:
                await self.async_set_unique_id(discovery.issuer)
                self._abort_if_unique_id_mismatch(reason="wrong_provider")
                data = _reconfigured_data(entry, current, discovery, user_input)
                errors = _client_errors(discovery, data.get("client_secret"))
                if not errors:
                    data, errors, detail = _validate(data, schema)
                if not errors:
                    return self.async_update_reload_and_abort(
                        entry,
                        title=data["display_name"],
                        data=data,
                        options=_reconfigured_options(entry, discovery),
                        # Our own message: it says what happened to single sign-on.
                        reason="reconfigure_successful",
                    )
        suggested = user_input or {
            "discovery_url": current.discovery_url,
            "client_id": current.client_id,
            "display_name": current.display_name,
            "tls_ca_path": current.network.tls_ca_path or "",
            "allow_insecure_http": current.network.allow_insecure_http,
            "continue_without_pkce": current.features.disable_rfc7636,
        }
        # A failed check may have offered more fields.
        schema = self._reconfigure_schema(current)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={
                "name": entry.title,
                "callback_url": callback_url(self.hass),
                "example_url": EXAMPLE_URL,
                "error_detail": detail,
            },
        )

    def _reconfigure_schema(self, current: Settings) -> vol.Schema:
        """Return the reconfigure form: provider, client, and the offered fields."""
        fields: dict[vol.Marker, Any] = {
            vol.Required("discovery_url"): _URL,
            vol.Required("client_id"): _TEXT,
            vol.Optional("client_secret"): _SECRET,
        }
        if current.client_secret:
            fields[vol.Optional("public_client", default=False)] = _BOOLEAN
        fields[vol.Required("display_name")] = _TEXT
        return vol.Schema(fields | self._offers.schema())

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start over with the client credentials after the provider rejected them."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new client secret, or none to switch to a public client with PKCE."""
        entry = self._get_reauth_entry()
        if entry.source == SOURCE_IMPORT:
            return self.async_abort(reason="yaml_managed")
        current = settings_from_config(entry.data | entry.options)
        errors: dict[str, str] = {}
        if user_input is not None:
            secret = str(user_input.get("client_secret") or "").strip()
            if not secret and current.features.disable_rfc7636:
                # Without PKCE, a public client's code could be redeemed by whoever intercepts it.
                errors["client_secret"] = "secret_required_without_pkce"  # noqa: S105
            else:
                data = {key: value for key, value in entry.data.items() if key != "client_secret"}
                if secret:
                    data["client_secret"] = secret
                delete_issue(self.hass, "client_rejected", entry.entry_id)
                return self.async_update_reload_and_abort(entry, data=data)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Optional("client_secret"): _SECRET}),
            errors=errors,
            description_placeholders={
                "name": entry.title,
                "client_id": current.client_id,
            },
        )

    async def async_step_import(self, import_data: dict[str, Any]) -> ConfigFlowResult:
        """Create or update the entry for the `auth_oidc:` block of configuration.yaml."""
        issuer = issuer_from_discovery_url(
            import_data["discovery_url"],
            allow_insecure_http=import_data.get("network", {}).get("allow_insecure_http", False),
        )
        title = import_data["display_name"]
        entries = self._async_current_entries(include_ignore=False)
        if any(e.unique_id == issuer and e.source != SOURCE_IMPORT for e in entries):
            # The UI never gets silently overridden, and the YAML block is not silently lost.
            _LOGGER.warning(
                "The auth_oidc: block in configuration.yaml is ignored: %s is already set up "
                "in the UI (Settings > Devices & services)",
                issuer,
            )
            create_yaml_ignored_issue(self.hass, issuer)
            return self.async_abort(reason="already_configured")
        delete_issue(self.hass, "yaml_ignored")
        for entry in entries:
            if entry.source == SOURCE_IMPORT:
                return self.async_update_reload_and_abort(
                    entry, unique_id=issuer, title=title, data=import_data
                )
        await self.async_set_unique_id(issuer)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(title=title, data=import_data)


def _reconfigured_data(
    entry: ConfigEntry, current: Settings, discovery: Discovery, user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the entry data with the reconfigure form applied; an empty secret keeps it."""
    data: dict[str, Any] = {
        **entry.data,
        "client_id": str(user_input["client_id"]).strip(),
        "discovery_url": discovery.discovery_url,
        "display_name": str(user_input["display_name"]).strip(),
        "network": {"tls_verify": current.network.tls_verify, **discovery.network},
        "features": {**entry.data["features"], "disable_rfc7636": not discovery.pkce},
    }
    secret = str(user_input.get("client_secret") or "").strip() or current.client_secret
    data.pop("client_secret", None)
    if secret and not user_input.get("public_client"):
        data["client_secret"] = secret
    return data


def _reconfigured_options(entry: ConfigEntry, discovery: Discovery) -> dict[str, Any]:
    """Return the options, keeping their features' PKCE switch in line with the provider."""
    options = dict(entry.options)
    if "features" in options:
        options["features"] = {**options["features"], "disable_rfc7636": not discovery.pkce}
    return options


def _pkce_mark(metadata: ProviderMetadata) -> str:
    """Return the mark for PKCE: S256 listed (✓), no list (?), or a list without S256 (✗)."""
    if not metadata.pkce_s256_usable:
        return UNUSABLE
    return _found(metadata.code_challenge_methods_supported is not None)


def _found(found: bool) -> str:
    """Return the mark for an advertised (✓) or not advertised (?) feature."""
    return FOUND if found else NOT_FOUND


def _client_errors(discovery: Discovery, secret: str | None) -> dict[str, str]:
    """Return errors for a client secret that cannot work with this provider."""
    if not secret and not discovery.pkce:
        # Without PKCE, a public client's code could be redeemed by whoever intercepts it.
        return {"client_secret": "secret_required_without_pkce"}
    methods = discovery.metadata.token_endpoint_auth_methods_supported
    if secret and not {"client_secret_basic", "client_secret_post"} & set(methods):
        return {"base": ErrorCode.DISCOVERY_NO_AUTH_METHOD}
    return {}


async def _end_session_endpoint(hass: HomeAssistant, entry_id: str) -> str:
    """Return the provider's end-session endpoint, or a dash for none (or not reachable)."""
    if (loaded := loaded_entry(hass, entry_id)) is None:
        return "—"
    try:
        metadata = await loaded.runtime_data.client.metadata()
    except OIDCError:
        return "—"
    return metadata.end_session_endpoint or "—"


class OIDCOptionsFlow(OptionsFlowWithReload):
    """Change roles, claims and features; the entry reloads, no restart needed."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the options of a provider set up in the UI."""
        entry = self.config_entry
        if entry.source == SOURCE_IMPORT:
            return self.async_abort(reason="yaml_managed")
        current = entry.data | entry.options
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            options = _roles_config(user_input)
            options["additional_scopes"] = str(user_input.get("additional_scopes") or "")
            options["features"] = _features(current["features"], user_input) | {
                "force_https": user_input["force_https"],
                "end_provider_session": user_input["end_provider_session"],
                "recheck_access": user_input["recheck_access"],
                "recheck_interval": user_input["recheck_interval"],
                "device_login": user_input["device_login"],
                "include_groups_scope": bool(options["groups_scope"]),
            }
            validated, errors, detail = _validate(current | options, OPTIONS_SCHEMA)
            if not errors:
                return self.async_create_entry(data={key: validated[key] for key in OPTION_KEYS})
        suggested = user_input or _form_values(settings_from_config(current))
        grant = self.hass.data[DATA_DOMAIN].inspection_grants.mint(entry.entry_id)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(OPTIONS_SCHEMA, suggested),
            errors=errors,
            description_placeholders={
                "name": entry.title,
                "error_detail": detail,
                "inspect_url": f"{INSPECT_PATH}?{urlencode({'grant': grant})}",
                "backchannel_logout_url": backchannel_logout_url(callback_url(self.hass)),
                "end_session_endpoint": await _end_session_endpoint(self.hass, entry.entry_id),
                "logged_out_url": logged_out_url(self.hass),
            },
        )
