"""Constants shared by the Home Assistant side of the integration."""

from typing import Final

DOMAIN: Final = "auth_oidc"

# Flow-context key that carries a verified Identity from our callback into our LoginFlow.
# Only server-side code can set it: Home Assistant builds login-flow contexts from fixed fields.
CONTEXT_IDENTITY: Final = "auth_oidc_identity"

AUTHORIZE_PATH: Final = "/auth/authorize"
PROVIDERS_PATH: Final = "/auth/providers"
WELCOME_PATH: Final = "/auth/oidc/welcome"
START_PATH: Final = "/auth/oidc/redirect"
CALLBACK_PATH: Final = "/auth/oidc/callback"
INSPECT_PATH: Final = "/auth/oidc/inspect"
BACKCHANNEL_LOGOUT_PATH: Final = "/auth/oidc/backchannel-logout"
LOGGED_OUT_PATH: Final = "/auth/oidc/logged-out"
TOKEN_ENDPOINT_PATH: Final = "/auth/token"  # noqa: S105 (a URL path, not a secret)
REVOKE_PATH: Final = "/auth/revoke"

# Events on Home Assistant's bus (docs/operations.md), described in the logbook (logbook.py).
EVENT_LOGIN: Final = "auth_oidc_login"
EVENT_LOGIN_REFUSED: Final = "auth_oidc_login_refused"
EVENT_USER_LINKED: Final = "auth_oidc_user_linked"
EVENT_ROLE_CHANGED: Final = "auth_oidc_role_changed"
EVENT_REVOKED: Final = "auth_oidc_revoked"
EVENT_LOGOUT: Final = "auth_oidc_logout"

SKIP_REDIRECT_PARAM: Final = "skip_oidc_redirect"
BINDING_COOKIE: Final = "auth_oidc_binding"

# Cross-device login (companion apps, passkey-only providers).
DEVICE_PATH: Final = "/auth/oidc/device"
DEVICE_CONFIRM_PATH: Final = "/auth/oidc/device/confirm"
DEVICE_WAIT_PATH: Final = "/auth/oidc/device/wait"
DEVICE_EVENTS_PATH: Final = "/auth/oidc/device/events"
DEVICE_QR_PATH: Final = "/auth/oidc/device/qr"
DEVICE_LOGIN_PARAM: Final = "device_login"
DEVICE_WAITING_COOKIE: Final = "auth_oidc_device"
DEVICE_APPROVER_COOKIE: Final = "auth_oidc_device_approver"
DEVICE_APPROVED_EVENT: Final = "auth_oidc_device_approved"


def issue_id(kind: str, entry_id: str | None = None) -> str:
    """Return the repair issue id of `kind`, per config entry when it names one (health.py)."""
    return kind if entry_id is None else f"{kind}_{entry_id}"
