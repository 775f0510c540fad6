"""Diagnostics download of a config entry: what an admin needs to fix SSO, without secrets."""

from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration

from .config_flow import callback_url
from .const import DOMAIN
from .oidc import ProviderMetadata
from .runtime import OIDCConfigEntry

# Never part of a download, wherever they appear.
TO_REDACT = {"client_secret", "access_token", "refresh_token", "id_token", "code", "code_verifier"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: OIDCConfigEntry
) -> dict[str, Any]:
    """Return the settings, provider facts, health and versions of one configured provider."""
    runtime = entry.runtime_data
    client = runtime.client
    keys = client.key_set_summary()
    integration = await async_get_integration(hass, DOMAIN)
    return {
        "entry": {"title": entry.title, "source": entry.source, "version": entry.version},
        "settings": async_redact_data(asdict(runtime.settings), TO_REDACT),
        "client_type": "confidential" if runtime.settings.client_secret else "public",
        "discovery": _discovery_summary(client.cached_metadata),
        "jwks": None
        if keys is None
        else {
            "age_seconds": round(keys.age),
            "keys": [{"kid": kid, "kty": kty, "alg": alg} for kid, kty, alg in keys.keys],
        },
        "callback_urls": {
            "to_register": callback_url(hass),
            "recently_used": sorted(runtime.health.callback_urls),
        },
        "provider_order": [
            {"type": provider.type, "id": provider.id, "name": provider.name}
            for provider in hass.auth.auth_providers
        ],
        "health": runtime.health.summary(),
        "access_recheck": None
        if runtime.access_recheck is None
        else runtime.access_recheck.summary(),
        "versions": {
            "auth_oidc": str(integration.version),
            "home_assistant": ha_version,
            "joserfc": _package_version("joserfc"),
        },
    }


def _discovery_summary(metadata: ProviderMetadata | None) -> dict[str, Any] | None:
    """Return what discovery said, with endpoints reduced to their hosts."""
    if metadata is None:
        return None
    endpoints = {
        "authorization": metadata.authorization_endpoint,
        "token": metadata.token_endpoint,
        "jwks": metadata.jwks_uri,
        "userinfo": metadata.userinfo_endpoint,
        "end_session": metadata.end_session_endpoint,
    }
    return {
        "issuer": metadata.issuer,
        "endpoint_hosts": {
            name: None if url is None else urlsplit(url).netloc for name, url in endpoints.items()
        },
        "id_token_signing_algs": list(metadata.id_token_signing_alg_values_supported),
        # None: discovery did not list them (S256 is sent anyway).
        "code_challenge_methods": None
        if metadata.code_challenge_methods_supported is None
        else list(metadata.code_challenge_methods_supported),
        "token_endpoint_auth_methods": list(metadata.token_endpoint_auth_methods_supported),
        "rfc9207_iss_parameter": metadata.authorization_response_iss_parameter_supported,
        "scopes_supported": list(metadata.scopes_supported),
    }


def _package_version(name: str) -> str | None:
    """Return an installed package's version."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None
