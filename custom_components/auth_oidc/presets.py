"""Provider presets for the UI setup: discovery-URL patterns and defaults (pure code)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote, urlsplit

from .oidc import WELL_KNOWN_PATH
from .settings import DEFAULTS

GUIDE_BASE_URL: Final = "https://github.com/auth-oidc/auth_oidc/blob/main/docs/providers/"
ENTRA_LOGIN_HOST: Final = "https://login.microsoftonline.com"
_TENANT_ID: Final = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
_PATH_SEGMENT: Final = re.compile(r"^[^/?#\s]{1,256}$")
# RFC 3986 §3.3: characters a path segment may carry unencoded.
_SEGMENT_SAFE: Final = "-._~!$&'()*+,;=:@"


class UrlField(StrEnum):
    """An input from which a preset builds the discovery URL."""

    BASE_URL = "base_url"
    REALM = "realm"
    SLUG = "slug"
    CLIENT_ID = "client_id"
    TENANT_ID = "tenant_id"
    DISCOVERY_URL = "discovery_url"


# How each input appears in the discovery URL pattern shown to the user.
_PATTERN_TOKENS: Final = {
    UrlField.BASE_URL: "<provider-address>",
    UrlField.REALM: "<realm>",
    UrlField.SLUG: "<slug>",
    UrlField.CLIENT_ID: "<client-id>",
    UrlField.TENANT_ID: "<tenant-id>",
    UrlField.DISCOVERY_URL: "<issuer>",
}


class PresetInputError(ValueError):
    """An input cannot become part of a discovery URL; `reason` is a translation key."""

    def __init__(self, field: UrlField, reason: str) -> None:
        """Name the offending input and why it was refused."""
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Preset:
    """What the setup knows about one kind of OpenID Provider."""

    key: str
    name: str
    # The inputs the provider_url step asks for; the first one may hold a full discovery URL.
    fields: tuple[UrlField, ...]
    # The issuer built from the inputs; the discovery URL appends the well-known path.
    issuer_pattern: str
    # Suggested administrator group; "{host}" becomes the provider's host name.
    admin_group: str
    # Scope that makes the provider send groups; "" requests none.
    groups_scope: str = DEFAULTS.groups_scope
    groups_claim: str = DEFAULTS.claims.groups
    display_name_claim: str = DEFAULTS.claims.display_name
    username_claim: str = DEFAULTS.claims.username

    @property
    def guide_url(self) -> str:
        """Return the address of this preset's setup guide."""
        return f"{GUIDE_BASE_URL}{self.key}.md"

    @property
    def discovery_pattern(self) -> str:
        """Return the discovery URL pattern to show the user, inputs as <name> tokens."""
        return self.issuer_pattern.format(**_PATTERN_TOKENS) + WELL_KNOWN_PATH

    def discovery_url(self, values: Mapping[str, str]) -> str:
        """Build the discovery URL from the user's inputs; a full discovery URL is kept as is."""
        first = (values.get(self.fields[0]) or "").strip()
        if first.endswith(WELL_KNOWN_PATH):
            return first
        parts = {field.value: _normalize(field, values.get(field) or "") for field in self.fields}
        return self.issuer_pattern.format(**parts) + WELL_KNOWN_PATH

    def suggested_admin_group(self, discovery_url: str) -> str:
        """Return the suggested administrator group for a provider at `discovery_url`."""
        return self.admin_group.replace("{host}", urlsplit(discovery_url).hostname or "")

    def suggested_settings(self, discovery_url: str) -> dict[str, Any]:
        """Return this preset's suggestions in the settings shape (settings.py)."""
        return {
            "groups_scope": self.groups_scope,
            "claims": {
                "groups": self.groups_claim,
                "display_name": self.display_name_claim,
                "username": self.username_claim,
            },
            "roles": {"admin": self.suggested_admin_group(discovery_url)},
        }


def _normalize(field: UrlField, raw: str) -> str:
    """Check one input and return it ready to be placed into the URL pattern."""
    value = raw.strip()
    if not value:
        raise PresetInputError(field, "required")
    if field in (UrlField.BASE_URL, UrlField.DISCOVERY_URL):
        return _base_url(field, value)
    if field is UrlField.TENANT_ID:
        # The issuer in Entra ID's discovery document always names the tenant by its ID.
        if not _TENANT_ID.match(value):
            raise PresetInputError(field, "invalid_tenant_id")
        return value.lower()
    if not _PATH_SEGMENT.match(value):
        raise PresetInputError(field, "invalid_segment")
    return quote(value, safe=_SEGMENT_SAFE)


def _base_url(field: UrlField, value: str) -> str:
    """Return an absolute http(s) URL without a trailing slash; https when no scheme is given."""
    if "://" not in value:
        value = f"https://{value}"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError as err:
        raise PresetInputError(field, "invalid_url") from err
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise PresetInputError(field, "invalid_url")
    return value.rstrip("/")


PRESETS: Final[Mapping[str, Preset]] = {
    preset.key: preset
    for preset in (
        Preset(
            key="pocket_id",
            name="Pocket ID",
            fields=(UrlField.BASE_URL,),
            issuer_pattern="{base_url}",
            admin_group="admins",
        ),
        Preset(
            key="authentik",
            name="authentik",
            fields=(UrlField.BASE_URL, UrlField.SLUG),
            issuer_pattern="{base_url}/application/o/{slug}",
            admin_group="Home Assistant Admins",
            # authentik sends the groups claim with the profile scope.
            groups_scope="",
        ),
        Preset(
            key="authelia",
            name="Authelia",
            fields=(UrlField.BASE_URL,),
            issuer_pattern="{base_url}",
            admin_group="admins",
        ),
        Preset(
            key="keycloak",
            name="Keycloak",
            fields=(UrlField.BASE_URL, UrlField.REALM),
            issuer_pattern="{base_url}/realms/{realm}",
            admin_group="home-assistant-admins",
        ),
        Preset(
            key="kanidm",
            name="Kanidm",
            fields=(UrlField.BASE_URL, UrlField.CLIENT_ID),
            issuer_pattern="{base_url}/oauth2/openid/{client_id}",
            # Kanidm names groups by their SPN, group@domain.
            admin_group="home_assistant_admins@{host}",
        ),
        Preset(
            key="zitadel",
            name="Zitadel",
            fields=(UrlField.BASE_URL,),
            issuer_pattern="{base_url}",
            admin_group="admins",
            # Zitadel has no groups scope; an Action copies the project roles into "groups".
            groups_scope="",
        ),
        Preset(
            key="entra_id",
            name="Microsoft Entra ID",
            fields=(UrlField.TENANT_ID,),
            issuer_pattern=ENTRA_LOGIN_HOST + "/{tenant_id}/v2.0",
            admin_group="admins",
            # App roles arrive in the "roles" claim; Entra ID has no groups scope.
            groups_scope="",
            groups_claim="roles",
        ),
        Preset(
            key="other",
            name="OpenID Connect (SSO)",
            fields=(UrlField.DISCOVERY_URL,),
            issuer_pattern="{discovery_url}",
            admin_group="admins",
        ),
    )
}
