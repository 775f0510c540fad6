"""URL checks shared by discovery, key retrieval and the client."""

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """Return whether `host` names the local machine (localhost, 127.0.0.0/8 or ::1)."""
    normalized = host.lower().rstrip(".")
    if normalized == "localhost":
        return True
    try:
        return ipaddress.ip_address(normalized).is_loopback
    except ValueError:
        return False


def is_absolute_http_url(url: str) -> bool:
    """Return whether `url` is an absolute http(s) URL with a host and without a fragment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError:
        return False
    # RFC 6749 §3.1 / §3.2: endpoint URIs MUST NOT include a fragment component.
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.fragment


def is_secure_url(url: str, *, allow_insecure_http: bool) -> bool:
    """Return whether `url` uses https, or plain http to loopback or when explicitly allowed."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    # RFC 6749 §3.1 / §3.2: endpoints require TLS; loopback traffic never leaves the host.
    return parts.scheme == "http" and (
        allow_insecure_http or is_loopback_host(parts.hostname or "")
    )
