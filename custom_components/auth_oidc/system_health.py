"""System health (Settings → System → Repairs → ⋮ → System information): one line per fact."""

from typing import Any

from homeassistant.components import system_health
from homeassistant.core import HomeAssistant, callback

from .oidc import OIDCError
from .runtime import OIDCConfigEntry, loaded_entries


@callback
def async_register(hass: HomeAssistant, register: system_health.SystemHealthRegistration) -> None:
    """Register the system health info callback."""
    register.async_register_info(system_health_info)


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """Return reachability, last successful login and key-set age of each provider."""
    entries = loaded_entries(hass)
    return {
        "providers": ", ".join(entry.title for entry in entries) or "-",
        "provider_reachable": _reachable(entries),
        "last_successful_login": "; ".join(
            f"{entry.title}: {entry.runtime_data.health.summary()['last_successful_login'] or '-'}"
            for entry in entries
        )
        or "-",
        "jwks_age": "; ".join(_jwks_age(entry) for entry in entries) or "-",
    }


async def _reachable(entries: list[OIDCConfigEntry]) -> str | dict[str, str]:
    """Fetch each provider's discovery document now; 'ok' when every one is usable."""
    failures: list[str] = []
    for entry in entries:
        try:
            await entry.runtime_data.client.metadata(force_refresh=True)
        except OIDCError as err:
            entry.runtime_data.health.record_failure(err.code)
            failures.append(f"{entry.title}: {err.code}")
        else:
            entry.runtime_data.health.record_reachable()
    if failures:
        return {"type": "failed", "error": "; ".join(failures)}
    return "ok"


def _jwks_age(entry: OIDCConfigEntry) -> str:
    """Return how old the cached signature keys of one provider are."""
    summary = entry.runtime_data.client.key_set_summary()
    age = "-" if summary is None else f"{summary.age:.0f} s"
    return f"{entry.title}: {age}"
