"""Home Assistant auth provider whose users are verified by an OpenID Provider."""

import logging
from collections.abc import Mapping
from typing import Any

from homeassistant.auth.const import GROUP_ID_ADMIN, GROUP_ID_USER
from homeassistant.auth.models import AuthFlowContext, AuthFlowResult, Credentials, User, UserMeta
from homeassistant.auth.providers import AuthProvider, LoginFlow
from homeassistant.const import CONF_ID, CONF_NAME, CONF_TYPE
from homeassistant.core import HomeAssistant

from .audit import fire_audit_event, user_role
from .const import CONTEXT_IDENTITY, DOMAIN, EVENT_ROLE_CHANGED, EVENT_USER_LINKED
from .hass_auth import auth_store
from .identity import Identity, Role
from .settings import Settings

_LOGGER = logging.getLogger(__name__)

HOMEASSISTANT_PROVIDER_TYPE = "homeassistant"


def role_group_id(role: str) -> str:
    """Return the Home Assistant group that a role maps to."""
    return GROUP_ID_ADMIN if role == Role.ADMIN else GROUP_ID_USER


class OIDCAuthProvider(AuthProvider):
    """Auth provider for one OpenID Provider; credentials are keyed by (issuer, sub)."""

    DEFAULT_TITLE = "OpenID Connect"

    def __init__(self, hass: HomeAssistant, issuer: str, settings: Settings) -> None:
        """Create the provider for `issuer` (also its provider id)."""
        super().__init__(
            hass,
            auth_store(hass),
            {CONF_TYPE: DOMAIN, CONF_ID: issuer, CONF_NAME: settings.display_name},
        )
        self.issuer = issuer
        self.settings = settings

    @property
    def support_mfa(self) -> bool:
        """Leave multi-factor authentication to the OpenID Provider."""
        return False

    async def async_login_flow(self, context: AuthFlowContext | None) -> LoginFlow[Any]:
        """Return a flow that finishes logins verified by our callback."""
        return OIDCLoginFlow(self)

    async def async_credentials_for(self, subject: str) -> Credentials | None:
        """Return the stored credentials of this issuer's `subject`, if any."""
        for credentials in await self.async_credentials():
            if credentials.data.get("sub") == subject:
                return credentials
        return None

    async def async_get_or_create_credentials(self, flow_result: Mapping[str, str]) -> Credentials:
        """Return the credentials for (issuer, sub), creating (and maybe linking) new ones."""
        subject = flow_result["sub"]
        if (existing := await self.async_credentials_for(subject)) is not None:
            return existing
        credentials = self.async_create_credentials(
            {
                "issuer": self.issuer,
                "sub": subject,
                "display_name": flow_result["display_name"],
                "role": flow_result["role"],
            }
        )
        username = flow_result.get("username")
        if (
            self.settings.features.automatic_user_linking
            and username
            and (user := await self._async_local_user(username)) is not None
        ):
            if user.is_admin and flow_result["role"] != Role.ADMIN:
                # A matching username alone must not hand over an administrator (or the owner).
                _LOGGER.warning(
                    "Not linking a %s login to administrator %s: the login is not an administrator",
                    self.issuer,
                    user.name,
                )
            else:
                _LOGGER.info("Linking %s login to existing user %s", self.issuer, user.name)
                await self.hass.auth.async_link_user(user, credentials)
                fire_audit_event(
                    self.hass,
                    EVENT_USER_LINKED,
                    user_id=user.id,
                    provider=self.name,
                    remote=flow_result.get("remote"),
                    reason="username_match",
                    username=username,
                )
        return credentials

    async def async_user_meta_for_credentials(self, credentials: Credentials) -> UserMeta:
        """Describe a new user: name and role from the login that created the credentials."""
        # UserMeta.group=None would make an administrator: always name the group.
        return UserMeta(
            name=credentials.data.get("display_name") or credentials.data["sub"],
            is_active=True,
            group=role_group_id(credentials.data.get("role", Role.USER)),
            local_only=False,
        )

    async def _async_local_user(self, username: str) -> User | None:
        """Return the user whose Home Assistant (username/password) login equals `username`."""
        # Exactly equal, as documented: no case folding (which maps "ß" to "ss" and the
        # Kelvin sign U+212A to "k"), so a look-alike username never selects a user.
        for user in await self.hass.auth.async_get_users():
            for credentials in user.credentials:
                if (
                    credentials.auth_provider_type == HOMEASSISTANT_PROVIDER_TYPE
                    and credentials.data.get("username") == username
                ):
                    return user
        return None


class OIDCLoginFlow(LoginFlow[OIDCAuthProvider]):
    """Finish a login whose identity our callback verified; refuse any other start."""

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> AuthFlowResult:
        """Create the entry from the verified identity carried in the flow context."""
        identity = self.context.get(CONTEXT_IDENTITY)
        if not isinstance(identity, Identity) or (
            # OIDC Discovery 1.0 §4.1: an issuer with and without one trailing slash share a URL.
            identity.issuer.rstrip("/") != self._auth_provider.issuer.rstrip("/")
        ):
            # Started from Home Assistant's own provider list: the welcome page is the way in.
            return self.async_abort(reason="use_login_page")
        return await self.async_finish(
            {
                "sub": identity.subject,
                "display_name": identity.display_name,
                "role": identity.role.value,
                "username": identity.username or "",
                "remote": str(self.context.get("ip_address") or ""),
            }
        )


async def async_apply_identity(
    hass: HomeAssistant, user: User, identity: Identity, *, provider: str, remote: str | None
) -> None:
    """Bring an existing user's name and role in line with the provider (never demote the owner)."""
    group_ids = [role_group_id(identity.role)]
    if user.is_owner:
        group_ids = [group.id for group in user.groups]
    if user.name != identity.display_name or [group.id for group in user.groups] != group_ids:
        old_role = user_role(user)
        await hass.auth.async_update_user(user, name=identity.display_name, group_ids=group_ids)
        if (new_role := user_role(user)) != old_role:
            fire_audit_event(
                hass,
                EVENT_ROLE_CHANGED,
                user_id=user.id,
                provider=provider,
                remote=remote,
                reason="provider_groups",
                old_role=old_role,
                new_role=new_role,
            )
