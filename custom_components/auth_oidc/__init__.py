"""OpenID Connect single sign-on for Home Assistant."""

import logging
import ssl
from datetime import datetime, timedelta
from functools import partial
from typing import Final

import probatio as vol
from homeassistant.auth import EVENT_USER_ADDED
from homeassistant.components.http.server import StaticPathConfig
from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntry
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType

from .access_recheck import async_setup_access_recheck
from .browser_views import (
    CallbackView,
    InspectView,
    StartView,
    WelcomeView,
    authorize_interceptor,
    providers_interceptor,
)
from .const import AUTHORIZE_PATH, DOMAIN, PROVIDERS_PATH, REVOKE_PATH, TOKEN_ENDPOINT_PATH
from .device_views import (
    DeviceApproveView,
    DeviceConfirmView,
    DeviceEventsView,
    DeviceQRView,
    DeviceWaitView,
)
from .hass_auth import (
    intercept_get_route,
    intercept_post_route,
    register_provider,
    unregister_provider,
)
from .health import (
    ProviderHealth,
    create_internals_changed_issue,
    create_yaml_ignored_issue,
    delete_issue,
)
from .logout_views import BackchannelLogoutView
from .oidc import OIDCClient, OIDCError
from .pages import STATIC_DIR, STATIC_URL, PageRenderer
from .person import async_create_person_for_new_user
from .provider import OIDCAuthProvider
from .provider_logout import LoggedOutView, revoke_interceptor
from .provider_tokens import provider_token_store
from .runtime import DATA_DOMAIN, DomainData, OIDCConfigEntry, OIDCRuntime
from .settings import (
    ENTRY_VERSION,
    SETTINGS_SCHEMA,
    Settings,
    migrate_v1,
    settings_from_config,
    settings_from_entry,
)
from .tls import load_ca_context

_LOGGER = logging.getLogger(__name__)

# How often a loaded provider's discovery document is checked in the background, so that an
# outage or an incompatible change shows as a repair even when nobody logs in.
HEALTH_CHECK_INTERVAL: Final = timedelta(minutes=5)
WARM_UP_TASK_NAME: Final = f"{DOMAIN} warm-up"

CONFIG_SCHEMA = vol.Schema({vol.Optional(DOMAIN): SETTINGS_SCHEMA}, extra=vol.ALLOW_EXTRA)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the login pages once and import the YAML configuration."""
    hass.data[DATA_DOMAIN] = DomainData(pages=await PageRenderer.async_load(hass))
    await hass.http.async_register_static_paths(
        [StaticPathConfig(STATIC_URL, str(STATIC_DIR), cache_headers=True)]
    )
    # Views cannot be unregistered: they find the loaded config entries on every request.
    hass.http.register_view(WelcomeView())
    hass.http.register_view(StartView())
    hass.http.register_view(CallbackView())
    hass.http.register_view(InspectView())
    hass.http.register_view(BackchannelLogoutView())
    hass.http.register_view(LoggedOutView())
    for view in (
        DeviceApproveView(),
        DeviceConfirmView(),
        DeviceWaitView(),
        DeviceEventsView(),
        DeviceQRView(),
    ):
        hass.http.register_view(view)
    if not intercept_get_route(hass, AUTHORIZE_PATH, authorize_interceptor):
        if "frontend" in hass.config.components:
            # The route moved: SSO cannot start from HA's login page; its own login works.
            create_internals_changed_issue(hass, f"GET {AUTHORIZE_PATH} not found")
        _LOGGER.debug("No frontend login page to intercept")
    intercept_get_route(hass, PROVIDERS_PATH, providers_interceptor)
    # The frontend logs out by revoking its refresh token (RP-initiated logout starts there).
    for path in (REVOKE_PATH, TOKEN_ENDPOINT_PATH):
        intercept_post_route(hass, path, revoke_interceptor)
    hass.bus.async_listen(EVENT_USER_ADDED, partial(_async_user_added, hass))

    yaml_entries = [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.source == SOURCE_IMPORT
    ]
    if DOMAIN in config:
        if _yaml_ignored(hass, settings_from_config(config[DOMAIN]).issuer):
            return True
        hass.async_create_task(
            hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_IMPORT}, data=config[DOMAIN]
            )
        )
    else:
        # The auth_oidc: block was removed from configuration.yaml: so is its provider.
        for entry in yaml_entries:
            hass.async_create_task(hass.config_entries.async_remove(entry.entry_id))
    return True


def _yaml_ignored(hass: HomeAssistant, issuer: str) -> bool:
    """Tell (and raise a repair issue) when the UI already set up the YAML block's provider."""
    entries = hass.config_entries.async_entries(DOMAIN, include_ignore=False)
    if not any(e.unique_id == issuer and e.source != SOURCE_IMPORT for e in entries):
        delete_issue(hass, "yaml_ignored")
        return False
    # The UI never gets silently overridden, and the YAML block is not silently lost.
    _LOGGER.warning(
        "The auth_oidc: block in configuration.yaml is ignored: %s is already set up "
        "in the UI (Settings > Devices & services)",
        issuer,
    )
    create_yaml_ignored_issue(hass, issuer)
    return True


async def _async_user_added(hass: HomeAssistant, event: Event) -> None:
    """Create a person for a user that one of our providers just created."""
    await async_create_person_for_new_user(hass, event.data["user_id"])


async def _async_tls_context(hass: HomeAssistant, settings: Settings) -> ssl.SSLContext | None:
    """Return an SSL context trusting the configured CA bundle, if one is configured."""
    if settings.network.tls_ca_path is None or not settings.network.tls_verify:
        return None
    return await hass.async_add_executor_job(load_ca_context, settings.network.tls_ca_path)


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Move an entry stored by an earlier version to the current shape (settings.py)."""
    if entry.version > ENTRY_VERSION:
        # Stored by a newer auth_oidc: this version cannot read it.
        return False
    if entry.version == 1:
        data, options = migrate_v1(entry.data, entry.options)
        hass.config_entries.async_update_entry(
            entry, data=data, options=options, version=ENTRY_VERSION, minor_version=1
        )
        _LOGGER.debug("Migrated %s to version %s", entry.title, ENTRY_VERSION)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: OIDCConfigEntry) -> bool:
    """Register the provider; SSO starts working as soon as the provider answers."""
    settings = settings_from_entry(entry)
    client = OIDCClient(
        async_get_clientsession(hass, verify_ssl=settings.network.tls_verify),
        settings.discovery_url,
        settings.client_settings(),
        ssl_context=await _async_tls_context(hass, settings),
    )
    provider = OIDCAuthProvider(hass, settings.issuer, settings)
    health = ProviderHealth(hass, entry.entry_id, entry.title)
    entry.runtime_data = OIDCRuntime(
        settings=settings,
        client=client,
        provider=provider,
        health=health,
        inspection_grants=hass.data[DATA_DOMAIN].inspection_grants,
    )
    try:
        register_provider(hass, provider)
    except (AttributeError, KeyError, TypeError) as err:
        # Home Assistant's auth internals changed: SSO stays off, its own login keeps working.
        _LOGGER.exception("Cannot register the SSO login provider")
        create_internals_changed_issue(hass, f"auth provider registry: {err}")
        return False
    entry.async_on_unload(partial(unregister_provider, hass, provider))
    await async_setup_access_recheck(hass, entry)
    # Never lock anyone out: a provider that is down now only shows on the welcome page.
    # Nothing here awaits the provider: the warm-up runs beside Home Assistant's start and is
    # cancelled on unload.
    entry.async_create_background_task(
        hass, _async_check_provider(entry, warm_up=True), WARM_UP_TASK_NAME
    )

    @callback
    def _check_periodically(_now: datetime) -> None:
        entry.async_create_background_task(
            hass, _async_check_provider(entry), f"{DOMAIN} health check"
        )

    entry.async_on_unload(
        async_track_time_interval(
            hass, _check_periodically, HEALTH_CHECK_INTERVAL, name=f"{DOMAIN} health check"
        )
    )
    return True


async def _async_check_provider(entry: OIDCConfigEntry, *, warm_up: bool = False) -> None:
    """Fetch discovery and keys early (a fast first login), then discovery periodically."""
    health = entry.runtime_data.health
    client = entry.runtime_data.client
    try:
        if warm_up:
            await client.warm_up()
        else:
            await client.metadata(force_refresh=True)
    except OIDCError as err:  # retried at the next login or check
        health.record_failure(err.code)
    except Exception:  # a failure outside the core (e.g. at shutdown) must not escape the task
        _LOGGER.debug("Checking provider %s failed", entry.title, exc_info=True)
    else:
        health.record_reachable()


async def async_unload_entry(hass: HomeAssistant, entry: OIDCConfigEntry) -> bool:
    """Unload the provider; the login pages fall back to Home Assistant's own login."""
    return True


async def async_remove_entry(hass: HomeAssistant, entry: OIDCConfigEntry) -> None:
    """Drop the provider refresh tokens kept for a removed provider."""
    await provider_token_store(hass).async_forget_entry(entry.entry_id)
