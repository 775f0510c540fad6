"""Tests for login_page.py: bad requests and forms get a translated page, never a 500."""

from urllib.parse import urlencode

import pytest
from homeassistant.core import HomeAssistant

from tests.login_driver import CLIENT_ID, REDIRECT_URI, authorize_query, setup_harness

pytestmark = [pytest.mark.usefixtures("onboarded"), pytest.mark.fake_provider(alg="RS256")]


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
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    client = harness.client
    response = await client.get("/auth/oidc/welcome?" + urlencode(query), allow_redirects=False)
    assert response.status == 400
    assert "Login did not work" in await response.text()
