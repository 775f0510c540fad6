"""Audit events on Home Assistant's bus: logins, refusals, linking and role changes."""

from typing import Any

from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.auth.models import User
from homeassistant.core import HomeAssistant

from .device_login import masked_network
from .identity import Role


def source_network(remote: str | None) -> dict[str, Any]:
    """Describe where a request came from without its address: its network and whether local."""
    # Like the cross-device approval event: IPv4 /24, IPv6 /48, never the full address.
    network = masked_network(remote)
    return {
        "network": network.cidr if network else None,
        "local": network.local if network else None,
    }


def user_role(user: User) -> str:
    """Return the role a Home Assistant user has now: admin or user."""
    return Role.ADMIN.value if any(g.id == GROUP_ID_ADMIN for g in user.groups) else Role.USER.value


def fire_audit_event(
    hass: HomeAssistant,
    event_type: str,
    *,
    user_id: str | None,
    provider: str | None,
    remote: str | None,
    **details: Any,
) -> None:
    """Fire one audit event: user, provider, source network and the event's own details."""
    hass.bus.async_fire(
        event_type,
        {"user_id": user_id, "provider": provider, **source_network(remote), **details},
    )
