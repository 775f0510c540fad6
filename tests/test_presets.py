"""Tests for the provider presets: discovery URLs from what the user types, and defaults."""

from pathlib import Path

import pytest

from custom_components.auth_oidc.presets import (
    GUIDE_BASE_URL,
    PRESETS,
    PresetInputError,
    UrlField,
)

DOCS = Path(__file__).parents[1] / "docs" / "providers"
WELL_KNOWN = "/.well-known/openid-configuration"
TENANT = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


@pytest.mark.parametrize(
    ("preset", "values", "expected"),
    [
        ("pocket_id", {"base_url": "https://id.example.com"}, "https://id.example.com"),
        ("pocket_id", {"base_url": " id.example.com/ "}, "https://id.example.com"),
        (
            "authentik",
            {"base_url": "https://auth.example.com", "slug": "home-assistant"},
            "https://auth.example.com/application/o/home-assistant",
        ),
        ("authelia", {"base_url": "https://auth.example.com/"}, "https://auth.example.com"),
        (
            "keycloak",
            {"base_url": "https://kc.example.com:8443", "realm": "home"},
            "https://kc.example.com:8443/realms/home",
        ),
        (
            "keycloak",
            {"base_url": "https://kc.example.com/auth", "realm": "Zuhause:ä"},
            "https://kc.example.com/auth/realms/Zuhause:%C3%A4",
        ),
        (
            "kanidm",
            {"base_url": "https://idm.example.com", "client_id": "home_assistant"},
            "https://idm.example.com/oauth2/openid/home_assistant",
        ),
        ("zitadel", {"base_url": "https://zitadel.example.com"}, "https://zitadel.example.com"),
        (
            "entra_id",
            {"tenant_id": TENANT.upper()},
            f"https://login.microsoftonline.com/{TENANT}/v2.0",
        ),
        ("other", {"discovery_url": "https://sso.example.com/o/"}, "https://sso.example.com/o"),
        ("other", {"discovery_url": "http://127.0.0.1:9000"}, "http://127.0.0.1:9000"),
    ],
)
def test_discovery_url_from_inputs(preset: str, values: dict[str, str], expected: str) -> None:
    assert PRESETS[preset].discovery_url(values) == expected + WELL_KNOWN


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_accepts_a_full_discovery_url(preset: str) -> None:
    url = "https://sso.example.com/some/issuer" + WELL_KNOWN
    first = PRESETS[preset].fields[0]
    # The other inputs are not needed then.
    assert PRESETS[preset].discovery_url({first: f" {url} "}) == url


@pytest.mark.parametrize(
    ("preset", "values", "field", "reason"),
    [
        ("pocket_id", {}, UrlField.BASE_URL, "required"),
        ("pocket_id", {"base_url": "   "}, UrlField.BASE_URL, "required"),
        ("pocket_id", {"base_url": "ftp://id.example.com"}, UrlField.BASE_URL, "invalid_url"),
        ("pocket_id", {"base_url": "https://"}, UrlField.BASE_URL, "invalid_url"),
        (
            "pocket_id",
            {"base_url": "https://id.example.com:99999"},
            UrlField.BASE_URL,
            "invalid_url",
        ),
        ("pocket_id", {"base_url": "https://[::1"}, UrlField.BASE_URL, "invalid_url"),
        (
            "other",
            {"discovery_url": "https://x.example/?a=1"},
            UrlField.DISCOVERY_URL,
            "invalid_url",
        ),
        ("other", {"discovery_url": "https://x.example/#f"}, UrlField.DISCOVERY_URL, "invalid_url"),
        ("keycloak", {"base_url": "https://kc.example.com"}, UrlField.REALM, "required"),
        (
            "keycloak",
            {"base_url": "https://kc.example.com", "realm": "a/b"},
            UrlField.REALM,
            "invalid_segment",
        ),
        (
            "authentik",
            {"base_url": "https://a.example", "slug": "x y"},
            UrlField.SLUG,
            "invalid_segment",
        ),
        ("kanidm", {"base_url": "https://idm.example"}, UrlField.CLIENT_ID, "required"),
        (
            "entra_id",
            {"tenant_id": "contoso.onmicrosoft.com"},
            UrlField.TENANT_ID,
            "invalid_tenant_id",
        ),
        ("entra_id", {"tenant_id": "common"}, UrlField.TENANT_ID, "invalid_tenant_id"),
    ],
)
def test_unusable_inputs_name_field_and_reason(
    preset: str, values: dict[str, str], field: UrlField, reason: str
) -> None:
    with pytest.raises(PresetInputError) as error:
        PRESETS[preset].discovery_url(values)
    assert (error.value.field, error.value.reason) == (field, reason)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_has_a_guide(preset: str) -> None:
    guide = PRESETS[preset].guide_url
    assert guide.startswith(GUIDE_BASE_URL)
    path = DOCS / guide.removeprefix(GUIDE_BASE_URL)
    text = path.read_text(encoding="utf-8")
    assert "/auth/oidc/callback" in text
    # The suggested admin group the flow shows is explained in the guide.
    assert PRESETS[preset].admin_group.split("@")[0] in text


def test_presets_carry_provider_specific_defaults() -> None:
    assert list(PRESETS) == [
        "pocket_id",
        "authentik",
        "authelia",
        "keycloak",
        "kanidm",
        "zitadel",
        "entra_id",
        "other",
    ]
    assert PRESETS["entra_id"].groups_claim == "roles"
    assert PRESETS["entra_id"].groups_scope == ""
    assert PRESETS["authentik"].groups_scope == ""
    assert PRESETS["pocket_id"].groups_scope == "groups"
    # Shown to the user as is: named inputs, no "{...}" format fields.
    assert PRESETS["keycloak"].discovery_pattern == "<provider-address>/realms/<realm>" + WELL_KNOWN
    assert PRESETS["entra_id"].discovery_pattern == (
        "https://login.microsoftonline.com/<tenant-id>/v2.0" + WELL_KNOWN
    )
    assert PRESETS["other"].discovery_pattern == "<issuer>" + WELL_KNOWN
    kanidm = PRESETS["kanidm"]
    url = kanidm.discovery_url({"base_url": "https://idm.example.com", "client_id": "ha"})
    assert kanidm.suggested_admin_group(url) == "home_assistant_admins@idm.example.com"
    assert PRESETS["pocket_id"].suggested_admin_group(url) == "admins"
