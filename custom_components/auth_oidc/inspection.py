"""The claim inspector: an administrator's test login that shows claims and the role, nothing else.

The options flow (admin only) shows a one-time link to `/auth/oidc/inspect?grant=…`; opening it
starts a login at the provider, and the callback renders what came back instead of handing a
login to Home Assistant: the claims of the ID token and of UserInfo, the identity derived from
them, and the role with its reason. No user, credential, person or session is created.
"""

from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web
from homeassistant.helpers.http import KEY_HASS

from .identity import Identity, Role, groups_claim_problem, identity_from_claims
from .login_state import PendingLogin
from .oidc import OIDCError
from .runtime import DATA_DOMAIN, OIDCConfigEntry
from .settings import Settings

# Values that only matter to the protocol, or that must stay secret even once spent.
HIDDEN_CLAIMS = frozenset({"nonce", "at_hash", "c_hash", "s_hash", "sid", "jti"})


async def inspect_login(
    request: web.Request, entry: OIDCConfigEntry, pending: PendingLogin
) -> web.Response:
    """Verify the callback like a login, then show the claims, identity and role."""
    hass = request.app[KEY_HASS]
    runtime = entry.runtime_data
    pages = hass.data[DATA_DOMAIN].pages
    try:
        result = await runtime.client.complete_login(request.query, pending.authorization)
    except OIDCError as err:
        return pages.render(
            hass,
            request,
            "inspect.html",
            status=HTTPStatus.BAD_REQUEST,
            provider=runtime.settings.display_name,
            error=err.code,
            identity=None,
            groups_problem=None,
            reasons=[],
            id_token_claims=[],
            userinfo_claims=[],
        )
    identity = identity_from_claims(result.issuer, result.subject, result.claims, runtime.settings)
    from_userinfo = {
        name: value
        for name, value in result.claims.items()
        if name not in result.id_token_claims or result.id_token_claims[name] != value
    }
    return pages.render(
        hass,
        request,
        "inspect.html",
        provider=runtime.settings.display_name,
        error=None,
        identity=identity,
        groups_problem=groups_claim_problem(result.claims, runtime.settings.claims.groups),
        reasons=role_reasons(identity, runtime.settings),
        id_token_claims=shown_claims(result.id_token_claims),
        userinfo_claims=shown_claims(from_userinfo),
    )


def shown_claims(claims: Mapping[str, object]) -> list[tuple[str, str]]:
    """Return the claims to display, sorted, without protocol secrets."""
    return sorted(
        (name, repr_claim(value)) for name, value in claims.items() if name not in HIDDEN_CLAIMS
    )


def repr_claim(value: object) -> str:
    """Return a claim value as the provider sent it (JSON-like), bounded in length."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 500 else f"{text[:500]}…"


def role_reasons(identity: Identity, settings: Settings) -> list[tuple[str, dict[str, str]]]:
    """Explain the role and the login decision as translation keys with placeholders."""
    claim = settings.claims.groups
    reasons: list[tuple[str, dict[str, str]]] = []
    admin_group = settings.roles.admin
    if admin_group is None:
        reasons.append(("inspect_no_admin_group", {}))
    elif identity.role is Role.ADMIN:
        reasons.append(("inspect_admin", {"group": admin_group, "claim": claim}))
    else:
        reasons.append(("inspect_not_admin", {"group": admin_group, "claim": claim}))
    if settings.roles.user is not None:
        if identity.allowed:
            reasons.append(("inspect_allowed", {"group": settings.roles.user}))
        else:
            reasons.append(("inspect_refused", {"group": settings.roles.user, "claim": claim}))
    return reasons
