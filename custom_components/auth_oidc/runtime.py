"""Runtime objects shared by the HTTP views and the config entries."""

from dataclasses import dataclass, field

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .access_recheck import AccessRecheck
from .const import DOMAIN
from .device_login import DeviceLoginStore
from .health import ProviderHealth
from .login_state import InspectionGrants, PendingLoginStore
from .oidc import OIDCClient, OIDCError
from .pages import PageRenderer
from .provider import OIDCAuthProvider
from .sessions import IdTokenHints, PendingLogouts, SeenLogoutTokens, SessionIndex
from .settings import Settings


@dataclass(slots=True)
class OIDCRuntime:
    """One configured OpenID Provider while its config entry is loaded."""

    settings: Settings
    client: OIDCClient
    provider: OIDCAuthProvider
    health: ProviderHealth
    inspection_grants: InspectionGrants
    sessions: SessionIndex = field(default_factory=SessionIndex)
    seen_logout_tokens: SeenLogoutTokens = field(default_factory=SeenLogoutTokens)
    id_token_hints: IdTokenHints = field(default_factory=IdTokenHints)
    access_recheck: AccessRecheck | None = None

    def mint_inspection_grant(self) -> str:
        """Return a one-time grant for a test login at this provider (the claim inspector)."""
        return self.inspection_grants.mint(self.health.entry_id)

    async def end_session_endpoint(self) -> str | None:
        """Return the provider's end-session endpoint, if it offers one and answers."""
        try:
            metadata = await self.client.metadata()
        except OIDCError:
            return None
        return metadata.end_session_endpoint


type OIDCConfigEntry = ConfigEntry[OIDCRuntime]


@dataclass(slots=True)
class DomainData:
    """State shared by all config entries; lives as long as Home Assistant runs."""

    pages: PageRenderer
    pending_logins: PendingLoginStore = field(default_factory=PendingLoginStore)
    device_logins: DeviceLoginStore = field(default_factory=DeviceLoginStore)
    inspection_grants: InspectionGrants = field(default_factory=InspectionGrants)
    pending_logouts: PendingLogouts = field(default_factory=PendingLogouts)


DATA_DOMAIN: HassKey[DomainData] = HassKey(DOMAIN)


def loaded_entries(hass: HomeAssistant) -> list[OIDCConfigEntry]:
    """Return the loaded config entries, in the order the user added them."""
    return list(hass.config_entries.async_loaded_entries(DOMAIN))


def loaded_entry(hass: HomeAssistant, entry_id: str) -> OIDCConfigEntry | None:
    """Return the loaded config entry with `entry_id`, if any."""
    for entry in loaded_entries(hass):
        if entry.entry_id == entry_id:
            return entry
    return None
