"""Config flow: YAML import now; the UI setup steps build on it."""

from typing import Any

from homeassistant.config_entries import SOURCE_IMPORT, ConfigFlow, ConfigFlowResult

from .const import DOMAIN
from .oidc import issuer_from_discovery_url


class OIDCConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create one config entry per OpenID Provider (issuer)."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Explain that providers are configured in YAML for now."""
        return self.async_abort(reason="yaml_only")

    async def async_step_import(self, import_data: dict[str, Any]) -> ConfigFlowResult:
        """Create or update the entry for the `auth_oidc:` block of configuration.yaml."""
        issuer = issuer_from_discovery_url(import_data["discovery_url"])
        title = import_data["display_name"]
        for entry in self._async_current_entries(include_ignore=False):
            if entry.source == SOURCE_IMPORT:
                return self.async_update_reload_and_abort(
                    entry, unique_id=issuer, title=title, data=import_data
                )
        await self.async_set_unique_id(issuer)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(title=title, data=import_data)
