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

SKIP_REDIRECT_PARAM: Final = "skip_oidc_redirect"
BINDING_COOKIE: Final = "auth_oidc_binding"
