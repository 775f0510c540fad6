"""Describe the integration's audit events in the logbook, one readable line each."""

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant, callback

from .const import (
    DEVICE_APPROVED_EVENT,
    DOMAIN,
    EVENT_LOGIN,
    EVENT_LOGIN_REFUSED,
    EVENT_LOGOUT,
    EVENT_REVOKED,
    EVENT_ROLE_CHANGED,
    EVENT_USER_LINKED,
)

DEFAULT_NAME = "OpenID Connect"


def _origin(data: Mapping[str, Any]) -> str:
    """Return " from <network>" (marked local) when the event knows the source network."""
    if not (network := data.get("network")):
        return ""
    return f" from {network}{' (local network)' if data.get('local') else ''}"


def _who(data: Mapping[str, Any]) -> str:
    """Return the account's name as the provider gave it, else the Home Assistant user id."""
    return str(data.get("account") or data.get("username") or data.get("user_id") or "Someone")


def describe_login(data: Mapping[str, Any]) -> str:
    """Describe a login."""
    new = " for the first time" if data.get("new_user") else ""
    return f"{_who(data)} logged in as {data.get('role')}{new}{_origin(data)}"


def describe_login_refused(data: Mapping[str, Any]) -> str:
    """Describe a refused login."""
    return f"Login of {_who(data)} refused ({data.get('reason')}){_origin(data)}"


def describe_user_linked(data: Mapping[str, Any]) -> str:
    """Describe a provider account linked to an existing user."""
    return f"Linked to the existing Home Assistant user {data.get('username')}{_origin(data)}"


def describe_role_changed(data: Mapping[str, Any]) -> str:
    """Describe a role change that followed the provider's groups."""
    return f"Role changed from {data.get('old_role')} to {data.get('new_role')}{_origin(data)}"


def describe_revoked(data: Mapping[str, Any]) -> str:
    """Describe sessions ended on the provider's word."""
    return f"Ended {data.get('sessions')} session(s) ({data.get('reason')})"


def describe_logout(data: Mapping[str, Any]) -> str:
    """Describe a logout from Home Assistant by a provider's user."""
    if data.get("provider_session_ended"):
        return "Logged out of Home Assistant and of the provider"
    return "Logged out of Home Assistant"


def describe_device_approved(data: Mapping[str, Any]) -> str:
    """Describe an approved cross-device login."""
    approver = data.get("approver_network")
    return (
        f"{data.get('account')} approved a login on {data.get('device')}"
        f"{_origin(data)}{f', approved from {approver}' if approver else ''}"
    )


DESCRIBERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    EVENT_LOGIN: describe_login,
    EVENT_LOGIN_REFUSED: describe_login_refused,
    EVENT_USER_LINKED: describe_user_linked,
    EVENT_ROLE_CHANGED: describe_role_changed,
    EVENT_REVOKED: describe_revoked,
    EVENT_LOGOUT: describe_logout,
    DEVICE_APPROVED_EVENT: describe_device_approved,
}


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Register a one-line description for each audit event."""

    @callback
    def describe(event: Event) -> dict[str, str]:
        """Describe one audit event, named after its provider."""
        return {
            LOGBOOK_ENTRY_NAME: str(event.data.get("provider") or DEFAULT_NAME),
            LOGBOOK_ENTRY_MESSAGE: DESCRIBERS[str(event.event_type)](event.data),
        }

    for event_type in DESCRIBERS:
        async_describe_event(DOMAIN, event_type, describe)
