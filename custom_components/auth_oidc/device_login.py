"""Cross-device login: a device shows a short code, another browser approves it (pure).

A waiting device (typically a Home Assistant companion app whose web view cannot run a
passkey ceremony) shows a code; someone enters it in any browser, logs in at the provider
there, sees what they are approving and confirms. Only the waiting page, which holds a
secret HttpOnly cookie, then receives the Home Assistant authorization code.

Everything lives in memory: bounded, time-limited, single use. Nothing here imports Home
Assistant.
"""

import hmac
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, ip_network

from .identity import Identity
from .login_state import (
    ClientRequest,
    hash_binding,
    new_browser_binding,
    parse_address,
    source_key,
)

# RFC 8628 §6.1: short, case-insensitive user codes without look-alikes (no 0/O, 1/I/L).
# 31 symbols, 8 of them: ~39.6 bits, with guesses limited per network (below).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_CODE_INPUT = 32
# The code can be entered for 5 minutes; the whole approval must finish within 10.
CODE_TTL = 300.0
DEVICE_LOGIN_TTL = 600.0
DEVICE_LOGIN_CAP = 500
# One network cannot push everybody else's waiting devices out of the store.
PER_SOURCE_CAP = 20
# How often the approving browser may (re)start the provider login for one code.
MAX_CLAIMS = 3
# Wrong codes per approving network before it is blocked for a while.
MAX_FAILURES = 5
FAILURE_WINDOW = 900.0
BLOCK_DURATION = 900.0
LIMITER_CAP = 10_000
MAX_USER_AGENT = 512

COMPANION_APP_CLIENTS = {
    # Exactly the spellings Home Assistant's IndieAuth whitelists (components/auth/indieauth.py).
    "https://home-assistant.io/iOS": "ios_app",
    "https://home-assistant.io/android": "android_app",
}

# Home networks: RFC 1918, RFC 4193 (ULA), loopback, link-local (as homeassistant.util.network).
LOCAL_NETWORKS = tuple(
    ip_network(cidr)
    for cidr in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "::1/128",
        "fe80::/10",
    )
)
_SEPARATORS = re.compile(r"[\s\-]+")
_APP_AGENT = re.compile(r"Home ?Assistant", re.IGNORECASE)
_PLATFORMS = (
    ("iPad", "iPad"),
    ("iPhone", "iPhone"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "Mac"),
    ("macOS", "Mac"),
    ("Mac OS X", "Mac"),
    ("iOS", "iPhone"),
    ("Linux", "Linux"),
)
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)


class DeviceStatus(StrEnum):
    """Where a cross-device login stands."""

    WAITING = "waiting"  # the code is shown; nobody has entered it yet
    ENTERED = "entered"  # a browser entered the code and is logging in at the provider
    VERIFIED = "verified"  # logged in at the provider; Approve or Deny is pending
    APPROVED = "approved"
    DENIED = "denied"


class EntryOutcome(StrEnum):
    """What entering a code in an approving browser led to."""

    OK = "ok"
    MALFORMED = "code_malformed"
    INVALID = "code_invalid"
    USED = "code_used"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    """What the waiting page's User-Agent says it is (self-reported, shown to the approver)."""

    kind: str  # ios_app, mac_app, android_app or browser
    platform: str | None = None
    browser: str | None = None


@dataclass(frozen=True, slots=True)
class Network:
    """An address reduced to its network (IPv4 /24, IPv6 /48) for display."""

    cidr: str
    local: bool


@dataclass(slots=True)
class DeviceLogin:
    """One cross-device login, from the waiting device's code to its hand-off."""

    login_id: str
    code: str = field(repr=False)
    client: ClientRequest
    waiting_binding_hash: str = field(repr=False)
    source: str
    device: DeviceDescription
    network: Network | None
    created: float
    created_at: float
    status: DeviceStatus = DeviceStatus.WAITING
    claims: int = 0
    approver_binding_hash: str | None = field(default=None, repr=False)
    confirm_token: str | None = field(default=None, repr=False)
    entry_id: str | None = None
    identity: Identity | None = None
    approver_network: Network | None = None

    @property
    def display_code(self) -> str:
        """Return the code as shown to people, two groups of four (e.g. K7PM-3QRD)."""
        return format_code(self.code)

    @property
    def public_status(self) -> str:
        """Return what the waiting page may know: waiting, entered, approved or denied."""
        if self.status in (DeviceStatus.ENTERED, DeviceStatus.VERIFIED):
            return "entered"
        return self.status.value


def new_code() -> str:
    """Return a fresh code from a CSPRNG."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """Return a normalized code in groups of four."""
    return f"{code[:4]}-{code[4:]}"


def normalize_code(text: str) -> str | None:
    """Return the code typed by a person (any case, spaces, dashes), or None if malformed."""
    if len(text) > MAX_CODE_INPUT:
        return None
    code = _SEPARATORS.sub("", text).upper()
    if len(code) != CODE_LENGTH or any(char not in CODE_ALPHABET for char in code):
        return None
    return code


def describe_device(user_agent: str, client_id: str) -> DeviceDescription:
    """Describe the waiting device from its User-Agent (apps say "Home Assistant/<version>")."""
    agent = user_agent[:MAX_USER_AGENT]
    platform = next((name for token, name in _PLATFORMS if token in agent), None)
    if _APP_AGENT.search(agent):
        if platform == "Android":
            return DeviceDescription("android_app", platform)
        if platform == "Mac":
            return DeviceDescription("mac_app", platform)
        if platform is not None or COMPANION_APP_CLIENTS.get(client_id) == "ios_app":
            return DeviceDescription("ios_app", platform)
    browser = next((name for token, name in _BROWSERS if token in agent), None)
    if browser is None and client_id in COMPANION_APP_CLIENTS:
        return DeviceDescription(COMPANION_APP_CLIENTS[client_id], platform)
    return DeviceDescription("browser", platform, browser)


def masked_network(remote: str | None) -> Network | None:
    """Return the approximate network of an address: IPv4 /24, IPv6 /48."""
    if (address := parse_address(remote)) is None:
        return None
    prefix = 24 if isinstance(address, IPv4Address) else 48
    local = any(address in network for network in LOCAL_NETWORKS)
    return Network(str(ip_network(f"{address}/{prefix}", strict=False)), local)


def _matches(stored_hash: str | None, cookie_value: str | None) -> bool:
    """Tell whether a cookie value matches a stored binding hash (constant time)."""
    if not stored_hash or not cookie_value:
        return False
    return hmac.compare_digest(stored_hash, hash_binding(cookie_value))


@dataclass(slots=True)
class _Attempts:
    """Recent failures of one source and until when it is blocked."""

    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class AttemptLimiter:
    """Count wrong codes per source; too many in a window block the source for a while."""

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        block: float = BLOCK_DURATION,
        cap: int = LIMITER_CAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an empty limiter."""
        self._max_failures = max_failures
        self._window = window
        self._block = block
        self._cap = cap
        self._clock = clock
        self._sources: OrderedDict[str, _Attempts] = OrderedDict()

    def __len__(self) -> int:
        """Return how many sources are tracked."""
        return len(self._sources)

    def blocked_for(self, source: str) -> float:
        """Return how many seconds `source` stays blocked (0 when it is not)."""
        attempts = self._sources.get(source)
        if attempts is None:
            return 0.0
        return max(0.0, attempts.blocked_until - self._clock())

    def failure(self, source: str) -> bool:
        """Count a wrong code from `source`; return whether it is blocked now."""
        now = self._clock()
        attempts = self._sources.pop(source, None) or _Attempts()
        self._sources[source] = attempts  # most recently failed last
        while len(self._sources) > self._cap:
            self._sources.popitem(last=False)
        while attempts.failures and attempts.failures[0] <= now - self._window:
            attempts.failures.popleft()
        attempts.failures.append(now)
        if len(attempts.failures) >= self._max_failures:
            attempts.blocked_until = now + self._block
            attempts.failures.clear()
        return attempts.blocked_until > now


class DeviceLoginStore:
    """Cross-device logins by id, and by code while it can be entered."""

    def __init__(
        self,
        *,
        code_ttl: float = CODE_TTL,
        ttl: float = DEVICE_LOGIN_TTL,
        cap: int = DEVICE_LOGIN_CAP,
        per_source_cap: int = PER_SOURCE_CAP,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        limiter: AttemptLimiter | None = None,
    ) -> None:
        """Create an empty store."""
        self._code_ttl = code_ttl
        self._ttl = ttl
        self._cap = cap
        self._per_source_cap = per_source_cap
        self._clock = clock
        self._wall_clock = wall_clock
        self._items: OrderedDict[str, DeviceLogin] = OrderedDict()
        self._by_code: dict[str, str] = {}
        self.limiter = limiter or AttemptLimiter(clock=clock)

    def __len__(self) -> int:
        """Return how many cross-device logins are held."""
        return len(self._items)

    @property
    def code_ttl(self) -> float:
        """Return how long a code can be entered, in seconds."""
        return self._code_ttl

    def now(self) -> float:
        """Return the store's clock reading."""
        return self._clock()

    def create(
        self, client: ClientRequest, *, user_agent: str, remote: str | None
    ) -> tuple[DeviceLogin, str]:
        """Start a cross-device login; return it and the waiting page's cookie value."""
        self._drop_expired()
        source = source_key(remote)
        same_source = [item for item in self._items.values() if item.source == source]
        for oldest in same_source[: max(0, len(same_source) - self._per_source_cap + 1)]:
            self._remove(oldest)
        while len(self._items) >= self._cap:
            self._remove(next(iter(self._items.values())))
        code = new_code()
        while code in self._by_code:
            code = new_code()
        cookie_value, binding_hash = new_browser_binding()
        login = DeviceLogin(
            login_id=secrets.token_urlsafe(16),
            code=code,
            client=client,
            waiting_binding_hash=binding_hash,
            source=source,
            device=describe_device(user_agent, client.client_id),
            network=masked_network(remote),
            created=self._clock(),
            created_at=self._wall_clock(),
        )
        self._items[login.login_id] = login
        self._by_code[code] = login.login_id
        return login, cookie_value

    def for_waiting_page(self, login_id: str, cookie_value: str | None) -> DeviceLogin | None:
        """Return the login if it is alive and the cookie is the waiting page's."""
        # Bound to the page that asked (RFC 9700 §4.7.1), not to its IP address: phones move.
        login = self._fresh(login_id)
        if login is None or not _matches(login.waiting_binding_hash, cookie_value):
            return None
        return login

    def for_approver(self, login_id: str, cookie_value: str | None) -> DeviceLogin | None:
        """Return the login if it is alive and the cookie is the approving browser's."""
        login = self._fresh(login_id)
        if login is None or not _matches(login.approver_binding_hash, cookie_value):
            return None
        return login

    def enter_code(
        self, text: str, source: str, approver_cookie: Callable[[str], str | None]
    ) -> tuple[EntryOutcome, DeviceLogin | None, str | None]:
        """Let an approving browser claim a code; return the outcome, login and new cookie."""
        # approver_cookie(login_id) is this browser's cookie for that login, if any: the
        # browser that entered the code may restart its provider login.
        # RFC 8628 §5.1/§5.2: user codes are short, so limit wrong guesses per source.
        if self.limiter.blocked_for(source) > 0:
            return EntryOutcome.BLOCKED, None, None
        if (code := normalize_code(text)) is None:
            return EntryOutcome.MALFORMED, None, None
        login_id = self._by_code.get(code)
        # Unknown, expired and no longer enterable codes all count as wrong.
        if (login := self._fresh(login_id) if login_id else None) is None:
            self.limiter.failure(source)
            return EntryOutcome.INVALID, None, None
        if login.status is DeviceStatus.WAITING:
            cookie_value, binding_hash = new_browser_binding()
            login.approver_binding_hash = binding_hash
            login.status = DeviceStatus.ENTERED
            login.claims = 1
            return EntryOutcome.OK, login, cookie_value
        # Single use: once entered, only the same browser may retry, a few times.
        if (
            login.status in (DeviceStatus.ENTERED, DeviceStatus.VERIFIED)
            and login.claims < MAX_CLAIMS
            and _matches(login.approver_binding_hash, approver_cookie(login.login_id))
        ):
            login.status = DeviceStatus.ENTERED
            login.claims += 1
            login.identity = None
            login.entry_id = None
            login.confirm_token = None
            return EntryOutcome.OK, login, None
        return EntryOutcome.USED, None, None

    def verified(
        self,
        login_id: str,
        approver_cookie: str | None,
        *,
        entry_id: str,
        identity: Identity,
        approver_remote: str | None,
    ) -> DeviceLogin | None:
        """Record who logged in at the provider in the approving browser; ask to confirm."""
        login = self.for_approver(login_id, approver_cookie)
        if login is None or login.status is not DeviceStatus.ENTERED:
            return None
        login.status = DeviceStatus.VERIFIED
        login.entry_id = entry_id
        login.identity = identity
        login.approver_network = masked_network(approver_remote)
        login.confirm_token = secrets.token_urlsafe(32)
        return login

    def decide(self, login: DeviceLogin, token: str, *, approve: bool) -> bool:
        """Approve or deny a verified login when the confirmation form's token matches."""
        if login.status is not DeviceStatus.VERIFIED or not login.confirm_token:
            return False
        # Double-submit: the form's token and the approver's cookie must both match.
        if not hmac.compare_digest(login.confirm_token.encode(), token.encode()):
            return False
        login.status = DeviceStatus.APPROVED if approve else DeviceStatus.DENIED
        login.confirm_token = None
        return True

    def finish(self, login: DeviceLogin) -> bool:
        """Remove a login for good; return whether it was still held (single use)."""
        if self._items.get(login.login_id) is not login:
            return False
        self._remove(login)
        return True

    def _fresh(self, login_id: str) -> DeviceLogin | None:
        """Return the login with this id unless it has expired (expired ones are dropped)."""
        login = self._items.get(login_id)
        if login is None:
            return None
        age = self._clock() - login.created
        if age > self._ttl or (login.status is DeviceStatus.WAITING and age > self._code_ttl):
            self._remove(login)
            return None
        return login

    def _remove(self, login: DeviceLogin) -> None:
        """Forget a login and its code."""
        self._items.pop(login.login_id, None)
        if self._by_code.get(login.code) == login.login_id:
            del self._by_code[login.code]

    def _drop_expired(self) -> None:
        """Drop expired logins (insertion order is creation order)."""
        deadline = self._clock() - self._ttl
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.created >= deadline:
                break
            self._remove(oldest)
