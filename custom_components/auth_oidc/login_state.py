"""Keep pending logins in memory: bounded, time-limited, single use."""

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from .login_clients import LoginClient
from .oidc import AuthorizationRequest

PENDING_LOGIN_TTL = 600.0
PENDING_LOGIN_CAP = 1000
# Pending logins one source (IPv4 address, IPv6 /64) may hold: its flood evicts only its own.
PENDING_LOGINS_PER_ADDRESS = 20
# Test-login links that the options flow hands to an administrator: single use, short-lived.
INSPECTION_GRANT_TTL = 600.0
INSPECTION_GRANT_CAP = 16


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """What the callback needs to finish a login that was sent to the provider."""

    entry_id: str
    client: LoginClient
    authorization: AuthorizationRequest = field(repr=False)
    browser_binding_hash: str = field(repr=False)
    created: float


def new_browser_binding() -> tuple[str, str]:
    """Return a random cookie value and the hash to store for it."""
    value = secrets.token_urlsafe(32)
    return value, hash_binding(value)


def hash_binding(value: str) -> str:
    """Hash a browser-binding cookie value for storage."""
    return hashlib.sha256(value.encode()).hexdigest()


def binding_matches(pending: PendingLogin, cookie_value: str | None) -> bool:
    """Tell whether the callback comes from the browser that started the login."""
    if not cookie_value:
        return False
    # RFC 9700 §4.7.1: bind the authorization response to the user agent that started it.
    return hmac.compare_digest(pending.browser_binding_hash, hash_binding(cookie_value))


def parse_address(remote: str | None) -> IPv4Address | IPv6Address | None:
    """Parse a peer address; IPv4-mapped IPv6 counts as IPv4."""
    try:
        address = ip_address(remote or "")
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def source_key(remote: str | None) -> str:
    """Return the key that per-source limits count by: the IPv4 address or the IPv6 /64."""
    # One IPv6 host usually holds a whole /64 (RFC 4291 §2.5.1): its addresses are one source.
    if (address := parse_address(remote)) is None:
        return "unknown"
    if isinstance(address, IPv6Address):
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


class PendingLoginStore:
    """Pending logins keyed by OAuth `state`; bounded in all and per source, expired dropped.

    When full, the busiest source loses its oldest login: a flood from a few sources evicts
    only its own, and pushing out a login of a source that holds one takes as many sources
    as the store holds logins.
    """

    def __init__(
        self,
        *,
        ttl: float = PENDING_LOGIN_TTL,
        cap: int = PENDING_LOGIN_CAP,
        per_address: int = PENDING_LOGINS_PER_ADDRESS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an empty store."""
        self._ttl = ttl
        self._cap = cap
        self._per_address = per_address
        self._clock = clock
        self._items: OrderedDict[str, PendingLogin] = OrderedDict()
        self._sources: dict[str, str] = {}
        # Each source's states, oldest first.
        self._by_source: dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        """Return how many pending logins are held."""
        return len(self._items)

    def now(self) -> float:
        """Return the store's clock reading."""
        return self._clock()

    def add(self, state: str, pending: PendingLogin, *, address: str = "") -> None:
        """Store a pending login; evict expired ones, then this source's or the busiest's."""
        self._drop_expired()
        source = source_key(address)
        own = self._by_source.get(source)
        if own is not None and len(own) >= self._per_address:
            self._remove(next(iter(own)))
        while len(self._items) >= self._cap:
            busiest = max(self._by_source.values(), key=len)
            self._remove(next(iter(busiest)))
        self._items[state] = pending
        self._sources[state] = source
        self._by_source.setdefault(source, OrderedDict())[state] = None

    def peek(self, state: str) -> PendingLogin | None:
        """Return the pending login for `state` without consuming it, when it is fresh."""
        pending = self._items.get(state)
        if pending is None or self._clock() - pending.created > self._ttl:
            return None
        return pending

    def take(self, state: str) -> PendingLogin | None:
        """Remove and return the pending login for `state` when it exists and is fresh."""
        pending = self._remove(state)
        if pending is None or self._clock() - pending.created > self._ttl:
            return None
        return pending

    def _remove(self, state: str) -> PendingLogin | None:
        """Remove the pending login for `state` from the store and from its source."""
        pending = self._items.pop(state, None)
        if (source := self._sources.pop(state, None)) is not None:
            states = self._by_source[source]
            del states[state]
            if not states:
                del self._by_source[source]
        return pending

    def _drop_expired(self) -> None:
        """Drop expired logins (insertion order is creation order)."""
        deadline = self._clock() - self._ttl
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.created >= deadline:
                break
            self._remove(next(iter(self._items)))


class InspectionGrants:
    """One-time grants for the claim inspector, minted in the admin-only options flow."""

    def __init__(
        self,
        *,
        ttl: float = INSPECTION_GRANT_TTL,
        cap: int = INSPECTION_GRANT_CAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an empty store."""
        self._ttl = ttl
        self._cap = cap
        self._clock = clock
        self._grants: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def mint(self, entry_id: str) -> str:
        """Return a new grant to test-log-in at `entry_id`'s provider; the oldest may go."""
        while len(self._grants) >= self._cap:
            self._grants.popitem(last=False)
        grant = secrets.token_urlsafe(24)
        self._grants[hash_binding(grant)] = (entry_id, self._clock())
        return grant

    def redeem(self, grant: str) -> str | None:
        """Spend a grant; return its entry id when it was valid and fresh."""
        found = self._grants.pop(hash_binding(grant), None)
        if found is None or self._clock() - found[1] > self._ttl:
            return None
        return found[0]
