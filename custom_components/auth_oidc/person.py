"""Create a person for each user that single sign-on creates (`automatic_person_creation`)."""

import logging

from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .runtime import loaded_entries

_LOGGER = logging.getLogger(__name__)


async def async_create_person_for_new_user(hass: HomeAssistant, user_id: str) -> None:
    """Create a person linked to a new user of ours, when the provider's settings want one."""
    user = await hass.auth.async_get_user(user_id)
    if user is None or user.system_generated or "person" not in hass.config.components:
        return
    our_provider_ids = {
        credentials.auth_provider_id
        for credentials in user.credentials
        if credentials.auth_provider_type == DOMAIN
    }
    wanted = any(
        entry.runtime_data.provider.id in our_provider_ids
        and entry.runtime_data.settings.features.automatic_person_creation
        for entry in loaded_entries(hass)
    )
    if not wanted:
        return
    # Imported here: person is an optional after-dependency.
    from homeassistant.components.person import async_create_person  # noqa: PLC0415

    await async_create_person(hass, user.name or user.id, user_id=user.id)
    _LOGGER.info("Created a person for %s", user.name)
