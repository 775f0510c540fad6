"""Single sign-on with other provider set-ups: ID token algorithms, a confidential client.

Each test gets a fresh hass (``fresh=True``): the provider restarts with a new key and
algorithm at the same issuer, and a reused hass would still hold the previous provider's
metadata (cached for an hour) and keys (refetched at most once a minute).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from . import ha_pages
from .conftest import HassFactory, ProviderFactory
from .hass_process import HassInstance

pytestmark = pytest.mark.e2e


def log_in_alice(hass: HassInstance, page: Page) -> dict[str, object]:
    """Log in as alice through the welcome page; return auth/current_user of the browser."""
    ha_pages.start_sso_login(page, hass, ha_pages.SSO_DISPLAY_NAME)
    ha_pages.provider_login(page, "alice", "alice-password")
    ha_pages.expect_dashboard(page, hass, user_name="Alice Admin")
    token = ha_pages.browser_auth_data(page)["access_token"]
    [current] = hass.ws_commands([{"type": "auth/current_user"}], token=token)
    assert isinstance(current, dict)
    return current


@pytest.mark.parametrize(
    ("alg", "at_hash"),
    [
        ("ES256", "pocket-id"),
        # Pocket ID hashes at_hash with SHA-256 for EdDSA; the OIDC working group says SHA-512.
        ("EdDSA", "pocket-id"),
        ("EdDSA", "spec"),
    ],
)
def test_id_token_signing_algorithm(
    alg: str,
    at_hash: str,
    oidc_provider_factory: ProviderFactory,
    hass_factory: HassFactory,
    page: Page,
) -> None:
    """A provider signing ID tokens with ES256 or EdDSA, either at_hash digest, logs alice in."""
    provider = oidc_provider_factory(alg=alg, extra_config={"at_hash": at_hash})
    assert provider.discovery()["id_token_signing_alg_values_supported"] == [alg]
    hass = hass_factory(
        ha_pages.sso_config_yaml(provider.discovery_url), with_integration=True, fresh=True
    )

    current = log_in_alice(hass, page)

    assert current["name"] == "Alice Admin"
    assert current["is_admin"] is True
    assert provider.request_counts()["token"] == 1


def test_confidential_client(
    oidc_provider_factory: ProviderFactory, hass_factory: HassFactory, page: Page
) -> None:
    """The confidential client (client_secret_basic) logs alice in."""
    provider = oidc_provider_factory()
    hass = hass_factory(
        ha_pages.sso_config_yaml(
            provider.discovery_url,
            client_id=provider.confidential_client_id,
            client_secret=provider.confidential_client_secret,
        ),
        with_integration=True,
        fresh=True,
    )

    current = log_in_alice(hass, page)

    assert current["name"] == "Alice Admin"
    assert current["is_admin"] is True
    expect(page.locator("ha-sidebar").get_by_text("Settings", exact=True)).to_be_visible()
    assert provider.request_counts()["token"] == 1


def test_back_channel_endpoints_on_another_host(
    oidc_provider_factory: ProviderFactory, hass_factory: HassFactory, page: Page
) -> None:
    """Token, userinfo and JWKS on another host than the issuer (Pocket ID's INTERNAL_APP_URL)."""
    provider = oidc_provider_factory(extra_config={"internal_host": "localhost"})
    discovery = provider.discovery()
    assert urlsplit(discovery["token_endpoint"]).hostname == "localhost"
    assert urlsplit(discovery["jwks_uri"]).hostname == "localhost"
    assert urlsplit(discovery["authorization_endpoint"]).hostname == "127.0.0.1"
    hass = hass_factory(
        ha_pages.sso_config_yaml(provider.discovery_url), with_integration=True, fresh=True
    )

    current = log_in_alice(hass, page)

    assert current["is_admin"] is True
    assert provider.request_counts()["token"] == 1
