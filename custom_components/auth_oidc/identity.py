"""Map verified OpenID Connect claims to a Home Assistant identity and role."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .settings import Settings

MAX_GROUPS = 1000
MAX_CLAIM_LENGTH = 256


class Role(StrEnum):
    """Home Assistant role granted by the provider's groups."""

    ADMIN = "admin"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified person at a provider; (issuer, subject) is the only identity key."""

    issuer: str
    subject: str
    display_name: str
    username: str | None
    groups: tuple[str, ...]
    role: Role
    allowed: bool
    # The provider's session id (`sid`), which back-channel logout may name.
    session_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Return the identity key: issuer and subject, never username or e-mail."""
        return (self.issuer, self.subject)


def _string_claim(claims: Mapping[str, object], name: str) -> str | None:
    """Return a non-empty, bounded string claim, or None."""
    value = claims.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_CLAIM_LENGTH:
        return None
    return value


def groups_from_claims(claims: Mapping[str, object], name: str) -> tuple[str, ...]:
    """Return the groups claim; anything malformed grants nothing (fail closed)."""
    value = claims.get(name)
    if not isinstance(value, list) or len(value) > MAX_GROUPS:
        return ()
    if not all(isinstance(group, str) for group in value):
        return ()
    return tuple(group for group in value if group)


def identity_from_claims(
    issuer: str, subject: str, claims: Mapping[str, object], settings: Settings
) -> Identity:
    """Build the identity and its role from verified claims."""
    username = _string_claim(claims, settings.claims.username)
    display_name = _string_claim(claims, settings.claims.display_name) or username or subject
    groups = groups_from_claims(claims, settings.claims.groups)
    role = Role.ADMIN if settings.roles.admin and settings.roles.admin in groups else Role.USER
    allowed = settings.roles.user is None or settings.roles.user in groups or role is Role.ADMIN
    return Identity(
        issuer=issuer,
        subject=subject,
        display_name=display_name,
        username=username,
        groups=groups,
        role=role,
        allowed=allowed,
        session_id=_string_claim(claims, "sid"),
    )
