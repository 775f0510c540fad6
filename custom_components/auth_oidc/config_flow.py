"""Set up OpenID Providers in the UI, reconfigure them, change their options, or import YAML.

Steps: user (pick a preset) → provider_url (provider address, checked live) → client (client ID
and secret; shows what was found and the callback URL to register) → roles (groups and
claims) → linking (user linking, persons, redirect). One config entry per issuer. Form keys are
the settings' own keys (settings.py), nested groups shown as sections; the entry's data holds
the connection and what the check found, its options the choices the options flow changes.
"""

import logging
import ssl
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import urlencode

import probatio as vol
from homeassistant.config_entries import (
    SOURCE_IMPORT,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import issue_registry as ir
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

from .const import (
    BACKCHANNEL_LOGOUT_PATH,
    CALLBACK_PATH,
    DOMAIN,
    INSPECT_PATH,
    LOGGED_OUT_PATH,
    issue_id,
)
from .oidc import (
    ErrorCode,
    OIDCError,
    ProbeResult,
    ProviderMetadata,
    issuer_from_discovery_url,
    probe_provider,
)
from .presets import PRESETS, Preset, PresetInputError, UrlField
from .settings import (
    DEFAULTS,
    ENTRY_VERSION,
    SETTINGS_SCHEMA,
    DeviceLoginMode,
    Settings,
    config_from_settings,
    settings_from_entry,
    split_config,
    with_changes,
)
from .tls import load_ca_context

_LOGGER = logging.getLogger(__name__)

DISCOVERY_TIMEOUT: Final = 10.0
CALLBACK_URL_UNKNOWN: Final = "https://<home-assistant-address>" + CALLBACK_PATH
# Shown in the address fields' help; strings.json carries no URLs (hassfest).
EXAMPLE_URL: Final = "https://id.example.com"
FOUND: Final = "✓"
NOT_FOUND: Final = "?"
UNUSABLE: Final = "✗"
NO_VALUE: Final = "—"

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
_ROLES_SECTION: Final = section(
    vol.Schema({vol.Optional("admin"): _TEXT, vol.Optional("user"): _TEXT})
)
_CLAIMS_SECTION: Final = section(
    vol.Schema(
        {
            vol.Required("groups"): _TEXT,
            vol.Required("display_name"): _TEXT,
            vol.Required("username"): _TEXT,
        }
    )
)
ROLES_SCHEMA: Final = vol.Schema(
    {
        vol.Required("roles"): _ROLES_SECTION,
        vol.Optional("groups_scope"): _TEXT,
        vol.Required("claims"): _CLAIMS_SECTION,
    }
)
_LINKING_FEATURES: Final = {
    vol.Optional("automatic_user_linking"): _BOOLEAN,
    vol.Optional("automatic_person_creation"): _BOOLEAN,
    vol.Optional("default_redirect"): _BOOLEAN,
}
LINKING_SCHEMA: Final = vol.Schema(
    {vol.Required("features"): section(vol.Schema(_LINKING_FEATURES))}
)
OPTIONS_SCHEMA: Final = vol.Schema(
    {
        vol.Required("roles"): _ROLES_SECTION,
        vol.Optional("groups_scope"): _TEXT,
        vol.Optional("additional_scopes"): _TEXT,
        vol.Required("claims"): _CLAIMS_SECTION,
        vol.Required("features"): section(
            vol.Schema(
                {
                    **_LINKING_FEATURES,
                    vol.Optional("force_https"): _BOOLEAN,
                    vol.Optional("end_provider_session"): _BOOLEAN,
                    vol.Optional("recheck_access"): _BOOLEAN,
                    vol.Optional("recheck_interval"): NumberSelector(
                        NumberSelectorConfig(
                            min=1,
                            max=1440,
                            step=1,
                            mode=NumberSelectorMode.BOX,
                            unit_of_measurement="min",
                        )
                    ),
                    vol.Optional("device_login"): SelectSelector(
                        SelectSelectorConfig(
                            options=[mode.value for mode in DeviceLoginMode],
                            mode=SelectSelectorMode.LIST,
                            translation_key="device_login",
                        )
                    ),
                }
            )
        ),
    }
)
# Until a step has suggestions of its own, forms show the settings' defaults.
DEFAULT_SUGGESTIONS: Final = config_from_settings(DEFAULTS)


class LoadedProvider(Protocol):
    """What the options flow asks of a loaded entry's runtime (runtime.OIDCRuntime)."""

    def mint_inspection_grant(self) -> str:
        """Return a one-time grant for the claim inspector."""

    async def end_session_endpoint(self) -> str | None:
        """Return the provider's end-session endpoint, if any."""


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
class _Checked:
    """A provider that passed the live check, and the network settings that reached it."""

    probe: ProbeResult
    network: dict[str, Any]

    @property
    def facts(self) -> dict[str, Any]:
        """Return what the check found, in the settings shape (`provider:`)."""
        return {"use_pkce": self.probe.pkce}


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


async def async_check_provider(
    hass: HomeAssistant, discovery_url: str, user_input: Mapping[str, Any]
) -> _Checked:
    """Check the provider once with the form's network choices; raise OIDCError or a field error."""
    ca_path = str(user_input.get("tls_ca_path") or "").strip() or None
    ssl_context = await _async_ssl_context(hass, ca_path) if ca_path else None
    probe = await probe_provider(
        async_get_clientsession(hass),
        discovery_url,
        allow_insecure_http=bool(user_input.get("allow_insecure_http")),
        accept_without_pkce=bool(user_input.get("continue_without_pkce")),
        ssl_context=ssl_context,
        timeout=DISCOVERY_TIMEOUT,
    )
    # A confirmed http that the provider does not use is not kept.
    network = {"tls_ca_path": ca_path, "allow_insecure_http": probe.needs_insecure_http}
    return _Checked(probe, network)


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


def _validate(
    config: Mapping[str, Any], schema: vol.Schema
) -> tuple[dict[str, Any], dict[str, str], str]:
    """Validate with SETTINGS_SCHEMA; return (validated, errors on `schema`'s fields, detail)."""
    try:
        return SETTINGS_SCHEMA(dict(config)), {}, ""
    except vol.Invalid as err:
        # Form keys are settings keys: the error goes to the field or section that holds it.
        field = str(err.path[0]) if err.path else "base"
        shown = field if field in {str(key) for key in schema.schema} else "base"
        return {}, {shown: "invalid_value"}, str(err.msg)


def _with_emptied_fields(schema: vol.Schema, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the form input with None for each text field the user left empty."""
    values = dict(user_input)
    for key, value in schema.schema.items():
        name = str(key)
        if isinstance(value, section):
            values[name] = _with_emptied_fields(value.schema, user_input.get(name) or {})
        elif isinstance(value, TextSelector):
            # The frontend leaves an emptied field out: it clears the setting.
            values.setdefault(name, None)
    return values


def _suggestions(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a config as form values: scope lists are typed as space-separated text."""
    values = dict(config)
    if isinstance(scopes := values.get("additional_scopes"), list):
        values["additional_scopes"] = " ".join(scopes)
    return values


async def _async_check(
    hass: HomeAssistant, offers: _Offers, preset: Preset, user_input: Mapping[str, Any]
) -> tuple[_Checked | None, dict[str, str], str]:
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

    VERSION = ENTRY_VERSION
    # Set by the provider_url step before the client step can be shown.
    _checked: _Checked

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
            checked, errors, detail = await _async_check(
                self.hass, self._offers, preset, user_input
            )
            if checked is not None:
                await self.async_set_unique_id(checked.probe.issuer)
                self._abort_if_unique_id_configured()
                self._checked = checked
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
        checked = self._checked
        probe = checked.probe
        preset = self._preset
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            config: dict[str, Any] = {
                **preset.suggested_settings(probe.discovery_url),
                "client_id": str(user_input["client_id"]).strip(),
                "display_name": str(user_input["display_name"]).strip(),
                "discovery_url": probe.discovery_url,
                "network": checked.network,
                "provider": checked.facts,
            }
            if secret := str(user_input.get("client_secret") or "").strip():
                config["client_secret"] = secret
            errors = _client_errors(probe, config.get("client_secret"))
            if not errors:
                _, errors, detail = _validate(config, CLIENT_SCHEMA)
            if not errors:
                self._config = config
                return await self.async_step_roles()
        groups_scope = preset.groups_scope or "groups"
        metadata = probe.metadata
        suggested = user_input or {"client_id": self._client_id_hint, "display_name": preset.name}
        callback = callback_url(self.hass)
        return self.async_show_form(
            step_id="client",
            data_schema=self.add_suggested_values_to_schema(CLIENT_SCHEMA, suggested),
            errors=errors,
            description_placeholders={
                "provider": preset.name,
                "issuer": metadata.issuer,
                "algorithms": ", ".join(probe.algorithms),
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

    async def async_step_roles(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask which groups grant which role and which claims carry the user's details."""
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            config = with_changes(self._config, _with_emptied_fields(ROLES_SCHEMA, user_input))
            _, errors, detail = _validate(config, ROLES_SCHEMA)
            if not errors:
                self._config = config
                return await self.async_step_linking()
        suggested_admin = self._config["roles"]["admin"]
        return self.async_show_form(
            step_id="roles",
            data_schema=self.add_suggested_values_to_schema(
                ROLES_SCHEMA, user_input or self._config
            ),
            errors=errors,
            description_placeholders={
                "provider": self._preset.name,
                "suggested_admin_group": suggested_admin,
                "guide_url": self._preset.guide_url,
                "error_detail": detail,
            },
        )

    async def async_step_linking(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask how SSO users meet existing users, persons and the login page; then save."""
        if user_input is None:
            return self.async_show_form(
                step_id="linking",
                data_schema=self.add_suggested_values_to_schema(
                    LINKING_SCHEMA, DEFAULT_SUGGESTIONS
                ),
            )
        data, options = split_config(SETTINGS_SCHEMA(with_changes(self._config, user_input)))
        return self.async_create_entry(title=data["display_name"], data=data, options=options)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the provider address, client and display name; check the provider again."""
        entry = self._get_reconfigure_entry()
        if entry.source == SOURCE_IMPORT:
            return self.async_abort(reason="yaml_managed")
        current = settings_from_entry(entry)
        self._offers.tls_ca_path |= current.network.tls_ca_path is not None
        self._offers.allow_insecure_http |= current.network.allow_insecure_http
        self._offers.continue_without_pkce |= not current.provider.use_pkce
        schema = self._reconfigure_schema(current)
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            checked, errors, detail = await _async_check(
                self.hass, self._offers, PRESETS["other"], user_input
            )
            if checked is not None:
                await self.async_set_unique_id(checked.probe.issuer)
                self._abort_if_unique_id_mismatch(reason="wrong_provider")
                config = _reconfigured(current, checked, user_input)
                errors = _client_errors(checked.probe, config.get("client_secret"))
                if not errors:
                    validated, errors, detail = _validate(config, schema)
                if not errors:
                    # The options (the user's choices) stay as they are.
                    data, _ = split_config(validated)
                    return self.async_update_reload_and_abort(
                        entry,
                        title=data["display_name"],
                        data=data,
                        # Our own message: it says what happened to single sign-on.
                        reason="reconfigure_successful",
                    )
        suggested = user_input or {
            "discovery_url": current.discovery_url,
            "client_id": current.client_id,
            "display_name": current.display_name,
            "tls_ca_path": current.network.tls_ca_path or "",
            "allow_insecure_http": current.network.allow_insecure_http,
            "continue_without_pkce": not current.provider.use_pkce,
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
        current = settings_from_entry(entry)
        errors: dict[str, str] = {}
        if user_input is not None:
            secret = str(user_input.get("client_secret") or "").strip()
            if not secret and not current.provider.use_pkce:
                # Without PKCE, a public client's code could be redeemed by whoever intercepts it.
                errors["client_secret"] = "secret_required_without_pkce"  # noqa: S105
            else:
                data = {key: value for key, value in entry.data.items() if key != "client_secret"}
                if secret:
                    data["client_secret"] = secret
                ir.async_delete_issue(
                    self.hass, DOMAIN, issue_id("client_rejected", entry.entry_id)
                )
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
        """Create or update the entry for the `auth_oidc:` block (validated by CONFIG_SCHEMA)."""
        issuer = issuer_from_discovery_url(
            import_data["discovery_url"],
            allow_insecure_http=import_data["network"]["allow_insecure_http"],
        )
        data, options = split_config(import_data)
        title = data["display_name"]
        entries = self._async_current_entries(include_ignore=False)
        if any(e.unique_id == issuer and e.source != SOURCE_IMPORT for e in entries):
            # The UI never gets silently overridden (async_setup raises the repair issue).
            return self.async_abort(reason="already_configured")
        for entry in entries:
            if entry.source == SOURCE_IMPORT:
                return self.async_update_reload_and_abort(
                    entry, unique_id=issuer, title=title, data=data, options=options
                )
        await self.async_set_unique_id(issuer)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(title=title, data=data, options=options)


def _reconfigured(
    current: Settings, checked: _Checked, user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the settings with the reconfigure form applied; an empty secret keeps it."""
    config = with_changes(
        config_from_settings(current),
        {
            "client_id": str(user_input["client_id"]).strip(),
            "discovery_url": checked.probe.discovery_url,
            "display_name": str(user_input["display_name"]).strip(),
            "network": checked.network,
            "provider": checked.facts,
        },
    )
    secret = str(user_input.get("client_secret") or "").strip() or current.client_secret
    config.pop("client_secret", None)
    if secret and not user_input.get("public_client"):
        config["client_secret"] = secret
    return config


def _pkce_mark(metadata: ProviderMetadata) -> str:
    """Return the mark for PKCE: S256 listed (✓), no list (?), or a list without S256 (✗)."""
    if not metadata.pkce_s256_usable:
        return UNUSABLE
    return _found(metadata.code_challenge_methods_supported is not None)


def _found(found: bool) -> str:
    """Return the mark for an advertised (✓) or not advertised (?) feature."""
    return FOUND if found else NOT_FOUND


def _client_errors(probe: ProbeResult, secret: str | None) -> dict[str, str]:
    """Return errors for a client secret that cannot work with this provider."""
    if not secret and not probe.pkce:
        # Without PKCE, a public client's code could be redeemed by whoever intercepts it.
        return {"client_secret": "secret_required_without_pkce"}
    methods = probe.metadata.token_endpoint_auth_methods_supported
    if secret and not {"client_secret_basic", "client_secret_post"} & set(methods):
        return {"base": ErrorCode.DISCOVERY_NO_AUTH_METHOD}
    return {}


class OIDCOptionsFlow(OptionsFlowWithReload):
    """Change roles, claims and features; the entry reloads, no restart needed."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the options of a provider set up in the UI."""
        entry = self.config_entry
        if entry.source == SOURCE_IMPORT:
            return self.async_abort(reason="yaml_managed")
        current = config_from_settings(settings_from_entry(entry))
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            changes = _with_emptied_fields(OPTIONS_SCHEMA, user_input)
            validated, errors, detail = _validate(with_changes(current, changes), OPTIONS_SCHEMA)
            if not errors:
                _, options = split_config(validated)
                return self.async_create_entry(data=options)
        loaded: LoadedProvider | None = (
            entry.runtime_data if entry.state is ConfigEntryState.LOADED else None
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, user_input or _suggestions(current)
            ),
            errors=errors,
            description_placeholders={
                "name": entry.title,
                "error_detail": detail,
                "inspect_url": _inspect_url(loaded),
                "backchannel_logout_url": backchannel_logout_url(callback_url(self.hass)),
                "end_session_endpoint": (loaded and await loaded.end_session_endpoint())
                or NO_VALUE,
                "logged_out_url": logged_out_url(self.hass),
            },
        )


def _inspect_url(loaded: LoadedProvider | None) -> str:
    """Return the claim inspector's address with a fresh grant (none while not loaded)."""
    if loaded is None:
        return INSPECT_PATH
    return f"{INSPECT_PATH}?{urlencode({'grant': loaded.mint_inspection_grant()})}"
