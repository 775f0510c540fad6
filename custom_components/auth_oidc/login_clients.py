"""Name whom a login answers: an app's authorize request, a device approval, a test login (pure)."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """The OAuth request that a Home Assistant client made at /auth/authorize."""

    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    store_token: bool = False


@dataclass(frozen=True, slots=True)
class DeviceApproval:
    """The "client" of a login that approves a cross-device login instead of answering one."""

    login_id: str


@dataclass(frozen=True, slots=True)
class ClaimInspection:
    """The "client" of an administrator's test login: show the claims, create nothing."""


# What a pending login finishes for: the callback hands off, approves a device, or shows claims.
type LoginClient = ClientRequest | DeviceApproval | ClaimInspection
