"""Re-check at the provider that the users it let in may still use Home Assistant.

With `features.recheck_access` on, the provider's refresh token of each login is kept
(encrypted, provider_tokens.py) and used every `features.recheck_interval` minutes and once
after Home Assistant has started. The provider's answer decides:

- `invalid_grant` (RFC 6749 §5.2: the grant was revoked, e.g. the user was disabled): the
  user's Home Assistant sessions from this provider end;
- the user is no longer in the required group: the same;
- the administrator group is gone: the user is demoted (never the owner);
- the provider is down or answers 5xx: nothing changes; the outage counts towards the
  "unreachable" repair and the rest of the cycle is skipped.
"""

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from homeassistant.auth.models import Credentials, User
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util

from .audit import fire_audit_event
from .const import DOMAIN, EVENT_REVOKED
from .health import ProviderHealth
from .identity import identity_from_claims
from .oidc import ErrorCode, OIDCClient, OIDCError
from .provider import OIDCAuthProvider, async_apply_identity
from .provider_tokens import ProviderTokenStore, provider_token_store
from .sessions import async_end_sessions
from .settings import Settings

if TYPE_CHECKING:
    from .runtime import OIDCConfigEntry

_LOGGER = logging.getLogger(__name__)

# Bounded work: at most this many users per cycle (least recently checked first), this many
# requests to the provider at a time.
MAX_CHECKS_PER_CYCLE: Final = 50
CONCURRENT_CHECKS: Final = 4
TASK_NAME: Final = f"{DOMAIN} access re-check"


@dataclass(slots=True)
class AccessRecheck:
    """Keep the refresh tokens of one provider's logins and re-check access with them."""

    hass: HomeAssistant
    entry_id: str
    name: str
    settings: Settings
    client: OIDCClient
    provider: OIDCAuthProvider
    health: ProviderHealth
    tokens: ProviderTokenStore
    logins_without_refresh_token: int = 0
    last_cycle: dict[str, int] = field(default_factory=dict)
    last_cycle_at: datetime | None = None
    _running: bool = field(default=False, init=False, repr=False)
    _provider_down: bool = field(default=False, init=False, repr=False)
    _failures: Counter[str] = field(default_factory=Counter, init=False, repr=False)

    @property
    def enabled(self) -> bool:
        """Return whether access is re-checked at this provider."""
        return self.settings.features.recheck_access

    async def async_login(self, subject: str, refresh_token: str | None) -> None:
        """Keep the refresh token of a verified login, when re-checking is on."""
        if not self.enabled:
            return
        if refresh_token is None:
            if not self.logins_without_refresh_token:
                _LOGGER.info(
                    "%s issued no refresh token at login: access of such users cannot be "
                    "re-checked (the provider may need the offline_access scope)",
                    self.name,
                )
            self.logins_without_refresh_token += 1
            return
        await self.tokens.async_keep(self.entry_id, subject, refresh_token)

    async def async_forget(self, subject: str) -> None:
        """Drop a user's kept refresh token (the provider revokes it at logout)."""
        await self.tokens.async_forget(self.entry_id, subject)

    async def async_run_cycle(self) -> Counter[str]:
        """Re-check the least recently checked users; return how each check ended."""
        outcomes: Counter[str] = Counter()
        if self._running or not self.enabled:
            return outcomes
        self._running = True
        self._provider_down = False
        self._failures.clear()
        try:
            logins = await self.tokens.async_logins(self.entry_id)
            limit = asyncio.Semaphore(CONCURRENT_CHECKS)

            async def check(subject: str) -> None:
                async with limit:
                    outcomes[await self._async_check(subject)] += 1

            async with asyncio.TaskGroup() as group:
                for login in logins[:MAX_CHECKS_PER_CYCLE]:
                    group.create_task(check(login.subject))
        finally:
            self._running = False
            # Rotated tokens are written at once: a spent one kept on disk would read as revoked.
            await self.tokens.async_flush()
        self.last_cycle = dict(outcomes)
        self.last_cycle_at = dt_util.utcnow()
        _LOGGER.debug("Access re-check at %s: %s", self.name, self.last_cycle)
        if self._failures:
            # One line per round, not per user: nothing was revoked for these.
            _LOGGER.warning(
                "Re-checking access at %s failed for %d user(s): %s",
                self.name,
                sum(self._failures.values()),
                ", ".join(sorted(self._failures)),
            )
        return outcomes

    async def _async_check(self, subject: str) -> str:
        """Re-check one user and act on the answer; return the outcome's name."""
        if self._provider_down:
            return "skipped_provider_down"
        found = await self._async_signed_in_user(subject)
        refresh_token = (
            None if found is None else await self.tokens.async_token(self.entry_id, subject)
        )
        if found is None or refresh_token is None:
            # No Home Assistant session left from this provider: nothing to protect.
            await self.tokens.async_forget(self.entry_id, subject)
            return "forgotten"
        credentials, user = found
        try:
            result = await self.client.refresh(refresh_token, subject=subject)
        except OIDCError as err:
            return await self._async_refused(credentials, subject, err)
        self.health.record_reachable()
        if result.refresh_token is not None:
            # The rotated token replaces the spent one; the round ends with a flush.
            await self.tokens.async_keep(self.entry_id, subject, result.refresh_token)
        else:
            await self.tokens.async_mark_checked(self.entry_id, subject)
        if result.claims is None:
            return "grant_valid"
        identity = identity_from_claims(self.provider.issuer, subject, result.claims, self.settings)
        if not identity.allowed:
            await self._async_revoke(credentials, subject, "not_allowed")
            return "revoked"
        await async_apply_identity(self.hass, user, identity, provider=self.name, remote=None)
        return "role_checked"

    async def _async_signed_in_user(self, subject: str) -> tuple[Credentials, User] | None:
        """Return the credentials and user of `subject` while a session from here is alive."""
        credentials = await self.provider.async_credentials_for(subject)
        if credentials is None:
            return None
        user = await self.hass.auth.async_get_user_by_credentials(credentials)
        if user is None or not any(
            token.credential is not None and token.credential.id == credentials.id
            for token in user.refresh_tokens.values()
        ):
            return None
        return credentials, user

    async def _async_refused(self, credentials: Credentials, subject: str, err: OIDCError) -> str:
        """Act on a failed refresh: revoke on invalid_grant, never on an outage."""
        if err.code == ErrorCode.TOKEN_REQUEST_FAILED and err.provider_error == "invalid_grant":
            # RFC 6749 §5.2: the grant is invalid, expired or revoked: the provider ended it.
            self.health.record_reachable()
            await self._async_revoke(credentials, subject, "provider_refused")
            return "revoked"
        self.health.record_failure(err.code, err.provider_error)
        if err.provider_unavailable:
            # A dead provider never revokes anything; the other users wait for the next cycle.
            self._provider_down = True
            return "provider_down"
        self._failures[err.code] += 1
        await self.tokens.async_mark_checked(self.entry_id, subject)
        return "failed"

    async def _async_revoke(self, credentials: Credentials, subject: str, reason: str) -> None:
        """End the user's sessions from this provider and forget the token."""
        await self.tokens.async_forget(self.entry_id, subject)
        user_id, ended = await async_end_sessions(self.hass, credentials, None)
        _LOGGER.info(
            "Access re-check at %s ended %d session(s) of user %s (%s)",
            self.name,
            ended,
            user_id,
            reason,
        )
        fire_audit_event(
            self.hass,
            EVENT_REVOKED,
            user_id=user_id,
            provider=self.name,
            remote=None,
            issuer=self.provider.issuer,
            reason=reason,
            sessions=ended,
        )

    def summary(self) -> dict[str, object]:
        """Return figures for diagnostics: counts only, never a token or a name."""
        return {
            "enabled": self.enabled,
            "interval_minutes": self.settings.features.recheck_interval,
            "logins_with_kept_token": self.tokens.count(self.entry_id),
            "logins_without_refresh_token": self.logins_without_refresh_token,
            "last_cycle": None
            if self.last_cycle_at is None
            else {"at": self.last_cycle_at.isoformat(timespec="seconds"), **self.last_cycle},
        }


async def async_setup_access_recheck(hass: HomeAssistant, entry: OIDCConfigEntry) -> None:
    """Attach the re-check to a loaded entry; schedule it when on, else drop kept tokens."""
    runtime = entry.runtime_data
    recheck = runtime.access_recheck = AccessRecheck(
        hass,
        entry.entry_id,
        entry.title,
        runtime.settings,
        runtime.client,
        runtime.provider,
        runtime.health,
        provider_token_store(hass),
    )
    if not recheck.enabled:
        # Keep only what is needed: switching the option off drops the provider's tokens.
        await recheck.tokens.async_forget_entry(entry.entry_id)
        return

    @callback
    def _run(_now: datetime | HomeAssistant) -> None:
        entry.async_create_background_task(hass, _async_guarded_cycle(recheck), TASK_NAME)

    # Once Home Assistant has started (not during its start), then every interval.
    entry.async_on_unload(async_at_started(hass, _run))
    entry.async_on_unload(
        async_track_time_interval(
            hass,
            _run,
            timedelta(minutes=runtime.settings.features.recheck_interval),
            name=TASK_NAME,
        )
    )


async def _async_guarded_cycle(recheck: AccessRecheck) -> None:
    """Run one cycle; a failure outside the core (e.g. at shutdown) must not escape the task."""
    try:
        await recheck.async_run_cycle()
    except Exception:
        _LOGGER.debug("Access re-check at %s failed", recheck.name, exc_info=True)
