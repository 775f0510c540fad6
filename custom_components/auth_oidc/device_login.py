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
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import urlsplit

from .identity import Identity
from .login_clients import ClientRequest
from .login_state import (
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
# Waiting logins one source (IPv4 address, IPv6 /64) may hold; a new one evicts its own oldest.
PER_SOURCE_CAP = 20
# New waiting logins per source (IPv4 address, IPv6 /64) and per network (IPv4 /24, IPv6 /48)
# in a sliding window; beyond that the source or network is refused for a while. Each login
# costs a QR code once, so this bounds what one address or one network can make us render.
CREATIONS_PER_SOURCE = 10
CREATIONS_PER_NETWORK = 30
CREATION_WINDOW = 300.0
# Server-sent event streams: one waiting page needs one (a reload may briefly open a second).
STREAMS_PER_LOGIN = 2
STREAMS_TOTAL = 100
# The approval URL is shown and encoded in the QR code: a valid origin of bounded length
# (RFC 3986 §3.2.2 host, RFC 1035 §2.3.4 label and name lengths) keeps the QR code small.
MAX_APPROVAL_URL = 160
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

# Home networks exactly as homeassistant.util.network.is_local: RFC 1918, fd00::/8 (ULA),
# loopback, link-local (IPv4-mapped addresses are unwrapped before the test).
LOCAL_NETWORKS = tuple(
    ip_network(cidr)
    for cidr in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fd00::/8",
        "::1/128",
        "fe80::/10",
    )
)
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
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
class MaskedNetwork:
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
    network: MaskedNetwork | None
    created: float
    created_at: float
    status: DeviceStatus = DeviceStatus.WAITING
    claims: int = 0
    approver_binding_hash: str | None = field(default=None, repr=False)
    confirm_token: str | None = field(default=None, repr=False)
    entry_id: str | None = None
    identity: Identity | None = None
    approver_network: MaskedNetwork | None = None
    approval_url: str = ""
    # Rendered once, when the waiting page first asks for it (see DeviceQRView).
    qr_code: bytes | None = field(default=None, repr=False)

    @property
    def prefilled_url(self) -> str:
        """Return the approval URL with this login's code filled in (for the QR code)."""
        return f"{self.approval_url}?code={self.display_code}"

    @property
    def different_networks(self) -> bool:
        """Tell whether the waiting device and the approving browser seem to be apart."""
        if self.network is None or self.approver_network is None:
            return True
        return self.network.cidr != self.approver_network.cidr

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


def masked_network(remote: str | None) -> MaskedNetwork | None:
    """Return the approximate network of an address: IPv4 /24, IPv6 /48."""
    if (address := parse_address(remote)) is None:
        return None
    prefix = 24 if isinstance(address, IPv4Address) else 48
    local = any(address in network for network in LOCAL_NETWORKS)
    return MaskedNetwork(str(ip_network(f"{address}/{prefix}", strict=False)), local)


def network_key(remote: str | None) -> str:
    """Return the network that fair eviction and creation limits group by: IPv4 /24, IPv6 /48."""
    network = masked_network(remote)
    return network.cidr if network else "unknown"


def approval_url(scheme: str, authority: str, path: str, *, force_https: bool) -> str | None:
    """Return the approval URL on the origin a browser reached, or None if malformed or long."""
    if len(authority) > MAX_APPROVAL_URL or any(char in authority for char in "/?#@\\"):
        return None
    try:
        parts = urlsplit(f"//{authority}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or scheme not in ("http", "https"):
        return None
    if force_https:
        scheme, port = "https", None if port in (80, 443) else port
    try:
        address = ip_address(host)
    except ValueError:
        # RFC 1123 §2.1 host names: letters, digits and hyphens, 63 per label, 253 in all.
        name = host.removesuffix(".")
        if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in name.split(".")):
            return None
        authority = name
    else:
        authority = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
    if port is not None and port != (443 if scheme == "https" else 80):
        authority = f"{authority}:{port}"
    url = f"{scheme}://{authority}{path}"
    # The QR code encodes the URL with "?code=ABCD-EFGH".
    return url if len(url) + len("?code=") + CODE_LENGTH + 1 <= MAX_APPROVAL_URL else None


def _network_of(login: DeviceLogin) -> str:
    """Return the network a login was started from (IPv4 /24, IPv6 /48)."""
    return login.network.cidr if login.network else "unknown"


def _matches(stored_hash: str | None, cookie_value: str | None) -> bool:
    """Tell whether a cookie value matches a stored binding hash (constant time)."""
    if not stored_hash or not cookie_value:
        return False
    return hmac.compare_digest(stored_hash, hash_binding(cookie_value))


@dataclass(slots=True)
class _Attempts:
    """Recent events (wrong codes, new logins) of one source and until when it is blocked."""

    events: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class AttemptLimiter:
    """Count events per source; too many in a window block the source for a while."""

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

    def count(self, source: str) -> bool:
        """Count an event from `source`; return whether it is blocked now."""
        now = self._clock()
        attempts = self._sources.pop(source, None) or _Attempts()
        self._sources[source] = attempts  # most recently counted last
        while len(self._sources) > self._cap:
            self._sources.popitem(last=False)
        while attempts.events and attempts.events[0] <= now - self._window:
            attempts.events.popleft()
        attempts.events.append(now)
        if len(attempts.events) >= self._max_failures:
            attempts.blocked_until = now + self._block
            attempts.events.clear()
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
        creations_per_source: int = CREATIONS_PER_SOURCE,
        creations_per_network: int = CREATIONS_PER_NETWORK,
        streams_per_login: int = STREAMS_PER_LOGIN,
        streams_total: int = STREAMS_TOTAL,
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
        # A source or network that started too many logins waits a whole window.
        self._source_creations = AttemptLimiter(
            max_failures=creations_per_source + 1,
            window=CREATION_WINDOW,
            block=CREATION_WINDOW,
            clock=clock,
        )
        self._network_creations = AttemptLimiter(
            max_failures=creations_per_network + 1,
            window=CREATION_WINDOW,
            block=CREATION_WINDOW,
            clock=clock,
        )
        self._streams_per_login = streams_per_login
        self._streams_total = streams_total
        self._streams: Counter[str] = Counter()

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

    def creation_blocked_for(self, remote: str | None) -> float:
        """Return how many seconds `remote` must wait before it may start a login (0: now)."""
        return max(
            self._source_creations.blocked_for(source_key(remote)),
            self._network_creations.blocked_for(network_key(remote)),
        )

    def create(
        self,
        client: ClientRequest,
        *,
        user_agent: str,
        remote: str | None,
        approval_url: str,
    ) -> tuple[DeviceLogin, str] | None:
        """Start a cross-device login; return it and the waiting page's cookie value.

        None when the source or its network has started too many logins lately.
        """
        if self.creation_blocked_for(remote) > 0:
            return None
        source = source_key(remote)
        # Every creation counts for both; the one past either limit is refused and blocks.
        source_full = self._source_creations.count(source)
        network_full = self._network_creations.count(network_key(remote))
        if source_full or network_full:
            return None
        self._drop_expired()
        same_source = [item for item in self._items.values() if item.source == source]
        for oldest in same_source[: max(0, len(same_source) - self._per_source_cap + 1)]:
            self._remove(oldest)
        while len(self._items) >= self._cap:
            self._remove(self._fair_victim())
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
            approval_url=approval_url,
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
            self.limiter.count(source)
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

    def open_stream(self, login: DeviceLogin) -> bool:
        """Count a server-sent event stream of a waiting page; False when over a cap."""
        if (
            self._streams[login.login_id] >= self._streams_per_login
            or self._streams.total() >= self._streams_total
        ):
            return False
        self._streams[login.login_id] += 1
        return True

    def close_stream(self, login: DeviceLogin) -> None:
        """Forget a stream that ended."""
        self._streams[login.login_id] -= 1
        if self._streams[login.login_id] <= 0:
            del self._streams[login.login_id]

    def _fair_victim(self) -> DeviceLogin:
        """Return the oldest login of the network that holds the most (fair eviction)."""
        # A flood pushes out its own logins first: to evict a network that waits with one
        # login, an attacker must hold logins from as many networks as the store has room.
        held = Counter(_network_of(item) for item in self._items.values())
        crowded = max(held.values())
        return next(item for item in self._items.values() if held[_network_of(item)] == crowded)

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
