"""Shared fixtures: custom integrations enabled for every Home Assistant test."""

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/auth_oidc in tests."""
