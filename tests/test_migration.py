"""Config entries stored by version 1 load in the current shape with the same settings.

The version 1 entries below are exactly what version 1 stored (captured by running its YAML
import and its config and options flows); only the provider's address is filled in per test.
"""

from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_IMPORT, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.auth_oidc.const import DOMAIN
from custom_components.auth_oidc.oidc import ClientSettings
from custom_components.auth_oidc.settings import (
    ENTRY_VERSION,
    ClaimNames,
    DeviceLoginMode,
    Features,
    Network,
    ProviderFacts,
    Roles,
    Settings,
    migrate_v1,
)
from tests.fake_provider import FakeProvider

DISCOVERY = "{discovery_url}"

# YAML block of version 1 (old key names), and the entry its import stored.
V1_YAML_BLOCK: dict[str, Any] = {
    "client_id": "ha-client",
    "client_secret": "yaml-secret-0123456789",
    "discovery_url": DISCOVERY,
    "display_name": "Pocket ID",
    "groups_scope": "roles",
    "additional_scopes": "offline_access phone",
    "features": {
        "disable_rfc7636": True,
        "include_groups_scope": False,
        "automatic_user_linking": True,
        "device_login": "anywhere",
        "always_fetch_userinfo": True,
    },
    "claims": {"groups": "roles"},
    "roles": {"admin": "ha-admins", "user": "ha-users"},
}
V1_YAML_DATA: dict[str, Any] = {
    "client_id": "ha-client",
    "discovery_url": DISCOVERY,
    "display_name": "Pocket ID",
    "client_secret": "yaml-secret-0123456789",
    "groups_scope": "roles",
    "additional_scopes": ["offline_access", "phone"],
    "features": {
        "disable_rfc7636": True,
        "include_groups_scope": False,
        "automatic_user_linking": True,
        "device_login": "anywhere",
        "always_fetch_userinfo": True,
        "automatic_person_creation": True,
        "force_https": False,
        "default_redirect": False,
        "end_provider_session": False,
    },
    "claims": {"groups": "roles", "display_name": "name", "username": "preferred_username"},
    "roles": {"admin": "ha-admins", "user": "ha-users"},
    "network": {"tls_verify": True, "allow_insecure_http": False},
}
# A UI entry (Pocket ID preset, confidential client) after its options were changed.
V1_UI_DATA: dict[str, Any] = {
    "client_id": "ha-client",
    "discovery_url": DISCOVERY,
    "display_name": "Pocket ID",
    "groups_scope": "groups",
    "features": {
        "disable_rfc7636": False,
        "include_groups_scope": True,
        "automatic_user_linking": False,
        "automatic_person_creation": True,
        "default_redirect": False,
        "force_https": False,
        "device_login": "local",
        "always_fetch_userinfo": False,
        "end_provider_session": False,
    },
    "claims": {"groups": "groups", "display_name": "name", "username": "preferred_username"},
    "roles": {"admin": "admins", "user": None},
    "network": {"tls_verify": True, "allow_insecure_http": False},
    "client_secret": "ui-secret-0123456789",
    "additional_scopes": [],
}
V1_UI_OPTIONS: dict[str, Any] = {
    "groups_scope": "",
    "additional_scopes": ["offline_access"],
    "roles": {"admin": "ha-admins", "user": "ha-users"},
    "claims": {"groups": "roles", "display_name": "nickname", "username": "email"},
    "features": {
        "disable_rfc7636": False,
        "include_groups_scope": False,
        "automatic_user_linking": False,
        "automatic_person_creation": False,
        "default_redirect": True,
        "force_https": True,
        "device_login": "off",
        "always_fetch_userinfo": False,
        "end_provider_session": True,
    },
}

V2_UI_DATA: dict[str, Any] = {
    "client_id": "ha-client",
    "client_secret": "ui-secret-0123456789",
    "discovery_url": DISCOVERY,
    "display_name": "Pocket ID",
    "network": {"tls_verify": True, "allow_insecure_http": False},
    "provider": {"use_pkce": True},
}
V2_UI_OPTIONS: dict[str, Any] = {
    "groups_scope": "",
    "additional_scopes": ["offline_access"],
    "roles": {"admin": "ha-admins", "user": "ha-users"},
    "claims": {"groups": "roles", "display_name": "nickname", "username": "email"},
    "features": {
        "automatic_user_linking": False,
        "automatic_person_creation": False,
        "default_redirect": True,
        "force_https": True,
        "device_login": "off",
        "always_fetch_userinfo": False,
        "end_provider_session": True,
    },
}


def filled(config: dict[str, Any], discovery_url: str) -> dict[str, Any]:
    """Return a stored dict with the provider's discovery URL filled in."""
    return {key: discovery_url if value == DISCOVERY else value for key, value in config.items()}


def ui_settings(discovery_url: str) -> Settings:
    """Return the settings version 1 built for the UI entry (captured from version 1)."""
    return Settings(
        client_id="ha-client",
        client_secret="ui-secret-0123456789",
        discovery_url=discovery_url,
        display_name="Pocket ID",
        groups_scope="",
        additional_scopes=("offline_access",),
        features=Features(
            automatic_user_linking=False,
            automatic_person_creation=False,
            force_https=True,
            default_redirect=True,
            device_login=DeviceLoginMode.OFF,
            always_fetch_userinfo=False,
            end_provider_session=True,
        ),
        claims=ClaimNames(display_name="nickname", username="email", groups="roles"),
        roles=Roles(admin="ha-admins", user="ha-users"),
        network=Network(tls_verify=True, tls_ca_path=None, allow_insecure_http=False),
        provider=ProviderFacts(use_pkce=True),
    )


# The fake provider listens on 127.0.0.1.
pytestmark = [pytest.mark.usefixtures("socket_enabled"), pytest.mark.fake_provider(alg="RS256")]


def test_version_1_yaml_entry_becomes_data_and_options() -> None:
    data, options = migrate_v1(V1_YAML_DATA, {})
    assert data == {
        "client_id": "ha-client",
        "client_secret": "yaml-secret-0123456789",
        "discovery_url": DISCOVERY,
        "display_name": "Pocket ID",
        "network": {"tls_verify": True, "allow_insecure_http": False},
        "provider": {"use_pkce": False},
    }
    assert options == {
        # include_groups_scope: false requested no groups scope.
        "groups_scope": "",
        "additional_scopes": ["offline_access", "phone"],
        "roles": {"admin": "ha-admins", "user": "ha-users"},
        "claims": {"groups": "roles", "display_name": "name", "username": "preferred_username"},
        "features": {
            "automatic_user_linking": True,
            "device_login": "anywhere",
            "always_fetch_userinfo": True,
            "automatic_person_creation": True,
            "force_https": False,
            "default_redirect": False,
            "end_provider_session": False,
        },
    }


def test_version_1_ui_entry_keeps_its_options_over_its_data() -> None:
    assert migrate_v1(V1_UI_DATA, V1_UI_OPTIONS) == (V2_UI_DATA, V2_UI_OPTIONS)


async def test_version_1_ui_entry_loads_with_the_same_settings(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    url = provider.discovery_url
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        source=SOURCE_USER,
        unique_id=provider.issuer,
        title="Pocket ID",
        data=filled(V1_UI_DATA, url),
        options=V1_UI_OPTIONS,
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (ENTRY_VERSION, 1)
    assert dict(entry.data) == filled(V2_UI_DATA, url)
    assert dict(entry.options) == V2_UI_OPTIONS
    settings = entry.runtime_data.settings
    assert settings == ui_settings(url)
    # What version 1 gave the OpenID Connect core for this entry.
    assert settings.client_settings() == ClientSettings(
        client_id="ha-client",
        client_secret="ui-secret-0123456789",
        scopes=("openid", "profile", "email", "offline_access"),
        use_pkce=True,
        always_fetch_userinfo=False,
        needed_claims=frozenset({"nickname", "email", "roles"}),
    )
    assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is entry.runtime_data.provider


async def test_version_1_yaml_entry_loads_with_the_same_settings(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    url = provider.discovery_url
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        source=SOURCE_IMPORT,
        unique_id=provider.issuer,
        title="Pocket ID",
        data=filled(V1_YAML_DATA, url),
    )
    entry.add_to_hass(hass)
    # The same block as before the update, old key names included.
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: filled(V1_YAML_BLOCK, url)})
    await hass.async_block_till_done()

    assert hass.config_entries.async_entries(DOMAIN) == [entry]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.version == ENTRY_VERSION
    assert entry.data["provider"] == {"use_pkce": False}
    assert "disable_rfc7636" not in entry.options["features"]
    assert entry.runtime_data.settings == Settings(
        client_id="ha-client",
        client_secret="yaml-secret-0123456789",
        discovery_url=url,
        display_name="Pocket ID",
        groups_scope="",
        additional_scopes=("offline_access", "phone"),
        features=Features(
            automatic_user_linking=True,
            device_login=DeviceLoginMode.ANYWHERE,
            always_fetch_userinfo=True,
        ),
        claims=ClaimNames(groups="roles"),
        roles=Roles(admin="ha-admins", user="ha-users"),
        provider=ProviderFacts(use_pkce=False),
    )
    assert entry.runtime_data.settings.client_settings() == ClientSettings(
        client_id="ha-client",
        client_secret="yaml-secret-0123456789",
        scopes=("openid", "profile", "email", "offline_access", "phone"),
        use_pkce=False,
        always_fetch_userinfo=True,
        needed_claims=frozenset({"name", "preferred_username", "roles"}),
    )


async def test_an_entry_from_a_newer_version_is_not_loaded(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=ENTRY_VERSION + 1,
        source=SOURCE_USER,
        data=filled(V2_UI_DATA, "https://id.example.com/.well-known/openid-configuration"),
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
