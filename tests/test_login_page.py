"""Tests for login_page.py: bad requests and forms get a translated page, never a 500."""

from urllib.parse import urlencode

import pytest
from homeassistant.core import HomeAssistant

from tests.test_browser_views import (
    CLIENT_ID,
    REDIRECT_URI,
    authorize_query,
    onboarded,
    provider,
    setup_integration,
)

__all__ = ["onboarded", "provider"]  # fixtures shared with test_browser_views


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"client_id": CLIENT_ID},
        {"client_id": "not a url", "redirect_uri": REDIRECT_URI},
        {"client_id": CLIENT_ID, "redirect_uri": "https://evil.example.net/steal"},
        {**authorize_query(), "code_challenge_method": "plain"},
        {**authorize_query(), "response_type": "token"},
    ],
)
async def test_bad_authorize_requests_get_a_clear_page(
    hass: HomeAssistant, hass_client_no_auth, provider, query: dict[str, str]
) -> None:
    await setup_integration(hass, provider)
    client = await hass_client_no_auth()
    response = await client.get("/auth/oidc/welcome?" + urlencode(query), allow_redirects=False)
    assert response.status == 400
    assert "Login did not work" in await response.text()
