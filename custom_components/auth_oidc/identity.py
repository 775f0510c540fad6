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
    if isinstance(value, str):
        # Some providers send a user's only group as a plain string instead of a list.
        return (value,) if value else ()
    if groups_claim_problem(claims, name) is not None or not isinstance(value, list):
        return ()
    return tuple(group for group in value if group)


def groups_claim_problem(claims: Mapping[str, object], name: str) -> str | None:
    """Say why a groups claim that is present cannot be read as group names, or None."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, str):
        return None
    if not isinstance(value, list):
        return f"the {name} claim was {_json_kind(value)}, not a list of names"
    if len(value) > MAX_GROUPS:
        return f"the {name} claim listed {len(value)} groups, more than {MAX_GROUPS}"
    if kinds := sorted({_json_kind(group) for group in value if not isinstance(group, str)}):
        return f"the {name} claim listed {' and '.join(kinds)} among the names"
    return None


def _json_kind(value: object) -> str:
    """Name the JSON type of a decoded value, with its article."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


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
