"""Find and end the Home Assistant sessions that one provider login created."""

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from homeassistant.auth.models import Credentials, RefreshToken
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

# Home Assistant's authorization codes live 10 minutes: the refresh token made from a code we
# handed off is created within that window after the hand-off.
CODE_LIFETIME: Final = timedelta(minutes=10)
SESSION_INDEX_CAP: Final = 2000
SEEN_LOGOUT_TOKENS_CAP: Final = 10_000
ID_TOKEN_HINTS_CAP: Final = 2000
PENDING_LOGOUTS_CAP: Final = 1000
PENDING_LOGOUT_SECONDS: Final = 300


@dataclass(frozen=True, slots=True)
class HandOff:
    """One login handed to a Home Assistant client, with the provider's session id."""

    credentials_id: str
    session_id: str
    client_id: str
    at: datetime


class SessionIndex:
    """Remember which provider session (`sid`) each hand-off belonged to; memory only, bounded.

    After a restart the index is empty: a logout naming a session then ends every session of
    that user from this provider, never fewer.
    """

    def __init__(self, cap: int = SESSION_INDEX_CAP) -> None:
        """Create an empty index."""
        self._cap = cap
        self._hand_offs: OrderedDict[int, HandOff] = OrderedDict()
        self._counter = 0

    def record(self, credentials_id: str, session_id: str | None, client_id: str) -> None:
        """Remember a hand-off of a login that carried a session id."""
        if session_id is None:
            return
        while len(self._hand_offs) >= self._cap:
            self._hand_offs.popitem(last=False)
        self._counter += 1
        self._hand_offs[self._counter] = HandOff(
            credentials_id, session_id, client_id, dt_util.utcnow()
        )

    def hand_offs(self, session_id: str | None = None) -> list[HandOff]:
        """Return the remembered hand-offs of a provider session, or all of them."""
        return [
            item
            for item in self._hand_offs.values()
            if session_id is None or item.session_id == session_id
        ]


class SeenLogoutTokens:
    """The `jti` of accepted logout tokens, so that none is accepted twice; bounded."""

    def __init__(self, cap: int = SEEN_LOGOUT_TOKENS_CAP) -> None:
        """Create an empty set."""
        self._cap = cap
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, jti: str) -> bool:
        """Record `jti`; return False when it was seen before (a replay)."""
        if jti in self._seen:
            return False
        while len(self._seen) >= self._cap:
            self._seen.popitem(last=False)
        self._seen[jti] = None
        return True


def session_tokens(
    credentials: Credentials,
    tokens: list[RefreshToken],
    hand_offs: list[HandOff] | None,
    all_hand_offs: list[HandOff] | None = None,
) -> list[RefreshToken]:
    """Return the refresh tokens made from `credentials`, only those of `hand_offs` if given.

    A hand-off's token is the one the client redeemed its code for: created after the hand-off
    and before the next hand-off of the same user to the same client (clients redeem at once),
    within the code's lifetime.
    """
    own = [
        token
        for token in tokens
        if token.credential is not None and token.credential.id == credentials.id
    ]
    if not hand_offs:
        return own
    timeline = sorted(all_hand_offs or hand_offs, key=lambda item: item.at)

    def window_end(item: HandOff) -> datetime:
        later = [
            other.at
            for other in timeline
            if other.at > item.at
            and other.credentials_id == item.credentials_id
            and other.client_id == item.client_id
        ]
        return min([item.at + CODE_LIFETIME, *later])

    windows = [
        (item.client_id, item.at, window_end(item))
        for item in hand_offs
        if item.credentials_id == credentials.id
    ]
    return [
        token
        for token in own
        if any(
            client_id == token.client_id and start <= token.created_at < end
            for client_id, start, end in windows
        )
    ]


async def async_end_sessions(
    hass: HomeAssistant,
    credentials: Credentials,
    hand_offs: list[HandOff] | None,
    all_hand_offs: list[HandOff] | None = None,
) -> tuple[str | None, int]:
    """Remove the refresh tokens of these sessions; return the user id and how many went."""
    user = await hass.auth.async_get_user_by_credentials(credentials)
    if user is None:
        return None, 0
    tokens = session_tokens(
        credentials, list(user.refresh_tokens.values()), hand_offs, all_hand_offs
    )
    for token in tokens:
        hass.auth.async_remove_refresh_token(token)
    return user.id, len(tokens)


class IdTokenHints:
    """The latest ID token of each user of one provider, by subject; memory only, bounded."""

    def __init__(self, cap: int = ID_TOKEN_HINTS_CAP) -> None:
        """Create an empty store."""
        self._cap = cap
        self._tokens: OrderedDict[str, str] = OrderedDict()

    def record(self, subject: str, id_token: str) -> None:
        """Remember `id_token` as the hint for `subject`'s next logout."""
        self._tokens.pop(subject, None)
        while len(self._tokens) >= self._cap:
            self._tokens.popitem(last=False)
        self._tokens[subject] = id_token

    def get(self, subject: str) -> str | None:
        """Return the remembered ID token of `subject`, if any."""
        return self._tokens.get(subject)


@dataclass(frozen=True, slots=True)
class PendingLogout:
    """A Home Assistant logout whose provider session still has to end."""

    entry_id: str
    subject: str
    expires_at: float


class PendingLogouts:
    """Logouts waiting for the browser's next welcome page, by random id; bounded."""

    def __init__(
        self, cap: int = PENDING_LOGOUTS_CAP, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Create an empty store."""
        self._cap = cap
        self._clock = clock
        self._pending: OrderedDict[str, PendingLogout] = OrderedDict()

    def add(self, entry_id: str, subject: str) -> str:
        """Remember a logout; return the random id the browser's cookie carries."""
        while len(self._pending) >= self._cap:
            self._pending.popitem(last=False)
        logout_id = secrets.token_urlsafe(32)
        self._pending[logout_id] = PendingLogout(
            entry_id, subject, self._clock() + PENDING_LOGOUT_SECONDS
        )
        return logout_id

    def take(self, logout_id: str) -> PendingLogout | None:
        """Return and forget the unexpired logout with this id, if any."""
        pending = self._pending.pop(logout_id, None)
        if pending is None or pending.expires_at < self._clock():
            return None
        return pending
