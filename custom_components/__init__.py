"""Custom integrations (lets tests import custom_components.auth_oidc)."""
