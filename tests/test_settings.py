"""Tests for the settings model shared by YAML and config entries."""

from dataclasses import fields
from pathlib import Path

import probatio as vol
import pytest

from custom_components.auth_oidc.oidc import ClientSettings
from custom_components.auth_oidc.settings import (
    DATA_KEYS,
    OPTION_KEYS,
    SETTINGS_SCHEMA,
    DeviceLoginMode,
    Features,
    ProviderFacts,
    Settings,
    config_from_settings,
    settings_from_config,
    settings_from_entry,
    split_config,
    validate_settings,
    with_changes,
)

DISCOVERY = "https://id.example.com/.well-known/openid-configuration"


def test_minimal_configuration_has_safe_defaults() -> None:
    settings = validate_settings({"client_id": "ha", "discovery_url": DISCOVERY})
    assert settings == Settings(client_id="ha", discovery_url=DISCOVERY)
    assert settings.client_secret is None
    assert settings.features == Features()
    assert settings.features.automatic_user_linking is False
    assert settings.features.automatic_person_creation is True
    assert settings.features.recheck_access is False
    assert settings.features.recheck_interval == 15
    assert settings.roles.admin == "admins"
    assert settings.roles.user is None
    assert settings.scopes == ("openid", "profile", "email", "groups")


def test_every_documented_yaml_key_is_accepted(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not parsed here")
    settings = validate_settings(
        {
            "client_id": "ha",
            "client_secret": "s3cret",
            "discovery_url": DISCOVERY,
            "display_name": "Pocket ID",
            "id_token_signing_alg": "ES256",
            "groups_scope": "roles",
            "additional_scopes": ["offline_access", "phone"],
            "features": {
                "automatic_user_linking": True,
                "automatic_person_creation": False,
                "disable_rfc7636": True,
                "include_groups_scope": True,
                "force_https": True,
                "default_redirect": True,
                "always_fetch_userinfo": True,
                "recheck_access": True,
                "recheck_interval": 5,
            },
            "claims": {"display_name": "nickname", "username": "email", "groups": "roles"},
            "roles": {"admin": "ha-admins", "user": "ha-users"},
            "network": {"tls_verify": False, "tls_ca_path": str(ca_file)},
        }
    )
    assert settings.client_secret == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.scopes == ("openid", "profile", "email", "roles", "offline_access", "phone")
    assert settings.features.default_redirect
    assert settings.features.always_fetch_userinfo
    assert (settings.features.recheck_access, settings.features.recheck_interval) == (True, 5)
    assert settings.claims.groups == "roles"
    assert (settings.roles.admin, settings.roles.user) == ("ha-admins", "ha-users")
    assert settings.network.tls_ca_path == str(ca_file)
    # features.disable_rfc7636, the YAML key of version 1, still turns PKCE off.
    assert settings.provider == ProviderFacts(use_pkce=False)
    assert settings.client_settings().use_pkce is False


def test_pkce_is_named_use_pkce_like_the_core() -> None:
    config = {"client_id": "ha", "discovery_url": DISCOVERY}
    assert validate_settings(config).client_settings().use_pkce is True
    settings = validate_settings({**config, "provider": {"use_pkce": False}})
    assert settings.client_settings().use_pkce is False
    # The new key wins over the old one when a block has both.
    both = {**config, "provider": {"use_pkce": True}, "features": {"disable_rfc7636": True}}
    assert validate_settings(both).provider.use_pkce is True
    with pytest.raises(vol.Invalid):
        validate_settings({**config, "features": {"disable_rfc7636": "sometimes"}})


def test_settings_build_the_cores_client_settings() -> None:
    settings = validate_settings(
        {
            "client_id": "ha",
            "client_secret": "s3cret",
            "discovery_url": DISCOVERY,
            "id_token_signing_alg": "ES256",
            "additional_scopes": "offline_access",
            "claims": {"groups": "roles"},
            "features": {"always_fetch_userinfo": True},
            "network": {"allow_insecure_http": True},
        }
    )
    assert settings.client_settings() == ClientSettings(
        client_id="ha",
        client_secret="s3cret",
        scopes=("openid", "profile", "email", "groups", "offline_access"),
        id_token_signing_alg="ES256",
        use_pkce=True,
        allow_insecure_http=True,
        always_fetch_userinfo=True,
        needed_claims=frozenset({"name", "preferred_username", "roles"}),
    )


def test_schema_defaults_are_the_dataclass_defaults() -> None:
    minimal = {"client_id": "ha", "discovery_url": DISCOVERY}
    assert SETTINGS_SCHEMA(minimal) == config_from_settings(Settings("ha", DISCOVERY))


def test_entry_data_and_options_hold_the_whole_config_once() -> None:
    assert set(DATA_KEYS).isdisjoint(OPTION_KEYS)
    assert set(DATA_KEYS) | set(OPTION_KEYS) == {item.name for item in fields(Settings)}
    config = SETTINGS_SCHEMA(
        {
            "client_id": "ha",
            "client_secret": "s3cret",
            "discovery_url": DISCOVERY,
            "roles": {"user": "ha-users"},
            "features": {"device_login": "off"},
        }
    )
    data, options = split_config(config)

    class Entry:
        def __init__(self) -> None:
            self.data, self.options = data, options

    assert settings_from_entry(Entry()) == settings_from_config(config)
    assert settings_from_entry(Entry()).features.device_login is DeviceLoginMode.OFF


def test_changes_keep_the_other_keys_of_a_section() -> None:
    config = config_from_settings(Settings("ha", DISCOVERY))
    changed = with_changes(config, {"features": {"force_https": True}, "groups_scope": ""})
    assert changed["features"] == {**config["features"], "force_https": True}
    assert changed["groups_scope"] == ""
    assert config["features"]["force_https"] is False


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (False, DeviceLoginMode.OFF),  # YAML 1.1 reads a bare `off` as false
        ("off", DeviceLoginMode.OFF),
        ("Local", DeviceLoginMode.LOCAL),
        ("anywhere", DeviceLoginMode.ANYWHERE),
    ],
)
def test_device_login_modes(value: object, mode: DeviceLoginMode) -> None:
    config = {"client_id": "ha", "discovery_url": DISCOVERY, "features": {"device_login": value}}
    assert validate_settings(config).features.device_login is mode


def test_device_login_defaults_to_local_network_only() -> None:
    settings = validate_settings({"client_id": "ha", "discovery_url": DISCOVERY})
    assert settings.features.device_login is DeviceLoginMode.LOCAL
    # Entries saved before the option existed have no such key.
    assert (
        settings_from_config(
            {"client_id": "ha", "discovery_url": DISCOVERY, "features": {}}
        ).features.device_login
        is DeviceLoginMode.LOCAL
    )


def test_additional_scopes_as_string_and_groups_scope_disabled() -> None:
    settings = validate_settings(
        {
            "client_id": "ha",
            "discovery_url": DISCOVERY,
            "additional_scopes": "offline_access openid",
            "features": {"include_groups_scope": False},
        }
    )
    assert settings.scopes == ("openid", "profile", "email", "offline_access")
    # features.include_groups_scope, the YAML key of version 1, is an empty groups_scope.
    assert settings.groups_scope == ""
    assert validate_settings(
        {"client_id": "ha", "discovery_url": DISCOVERY, "groups_scope": ""}
    ).scopes == ("openid", "profile", "email")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"discovery_url": DISCOVERY}, "client_id"),
        ({"client_id": "ha"}, "discovery_url"),
        ({"client_id": "ha", "discovery_url": "ftp://id.example.com/x"}, "discovery_url"),
        ({"client_id": "ha", "discovery_url": "not a url"}, "discovery_url"),
        ({"client_id": "ha", "discovery_url": "https://id.example.com/"}, "must end with"),
        (
            {
                "client_id": "ha",
                "discovery_url": "http://id.example.com/.well-known/openid-configuration",
            },
            "discovery_url",
        ),
        ({"client_id": "", "discovery_url": DISCOVERY}, "client_id"),
        ({"client_id": "ha", "discovery_url": DISCOVERY, "id_token_signing_alg": "none"}, "alg"),
        (
            {"client_id": "ha", "discovery_url": DISCOVERY, "id_token_signing_alg": "HS256"},
            "secret",
        ),
        ({"client_id": "ha", "discovery_url": DISCOVERY, "features": {"bogus": True}}, "bogus"),
        (
            {"client_id": "ha", "discovery_url": DISCOVERY, "features": {"force_https": "maybe"}},
            "force_https",
        ),
        (
            {"client_id": "ha", "discovery_url": DISCOVERY, "features": {"device_login": True}},
            "device_login",
        ),
        (
            {"client_id": "ha", "discovery_url": DISCOVERY, "features": {"device_login": "lan"}},
            "device_login",
        ),
        (
            {"client_id": "ha", "discovery_url": DISCOVERY, "additional_scopes": ["a b"]},
            "additional_scopes",
        ),
        (
            {
                "client_id": "ha",
                "discovery_url": DISCOVERY,
                "network": {"tls_ca_path": "/nonexistent/ca.pem"},
            },
            "file not found",
        ),
        (
            {"client_id": "ha", "discovery_url": DISCOVERY, "features": {"recheck_interval": 0}},
            "recheck_interval",
        ),
        ({"client_id": "ha", "discovery_url": DISCOVERY, "unknown_key": 1}, "unknown_key"),
    ],
)
def test_bad_values_are_clear_errors(config: dict[str, object], message: str) -> None:
    with pytest.raises(vol.Invalid) as error:
        validate_settings(config)
    assert message in str(error.value)


def test_hmac_alg_with_secret_is_allowed() -> None:
    settings = validate_settings(
        {
            "client_id": "ha",
            "client_secret": "s",
            "discovery_url": DISCOVERY,
            "id_token_signing_alg": "HS256",
        }
    )
    assert settings.id_token_signing_alg == "HS256"


def test_http_discovery_is_allowed_on_loopback_only() -> None:
    url = "http://127.0.0.1:9000/.well-known/openid-configuration"
    assert validate_settings({"client_id": "ha", "discovery_url": url}).discovery_url == url
