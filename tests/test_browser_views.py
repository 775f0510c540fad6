"""Integration tests of browser_views.py: interception, welcome, start, callback."""

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from homeassistant.auth.const import GROUP_ID_ADMIN, GROUP_ID_USER
from homeassistant.core import HomeAssistant

from custom_components.auth_oidc.browser_views import callback_failure
from custom_components.auth_oidc.const import DOMAIN
from custom_components.auth_oidc.login_page import LoginPageReason
from custom_components.auth_oidc.oidc import ErrorCode, OIDCError, discovery
from tests.fake_provider import FakeProvider, half_hash
from tests.login_driver import CLIENT_ID, REDIRECT_URI, authorize_query, setup_harness

pytestmark = [pytest.mark.usefixtures("onboarded"), pytest.mark.fake_provider(alg="RS256")]


async def test_authorize_page_leads_to_welcome(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    client = harness.client
    response = await client.get(
        "/auth/authorize?" + urlencode(authorize_query()), allow_redirects=False
    )
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/oidc/welcome"
    assert parse_qs(location.query)["state"] == ["client-state-123"]
    assert response.headers["Cache-Control"] == "no-store"
    # The alternative login is always reachable.
    response = await client.get(
        "/auth/authorize?" + urlencode(authorize_query(skip_oidc_redirect="true")),
        allow_redirects=False,
    )
    assert response.status == 200
    # Browsers must not reuse this page once the welcome page should take over.
    assert response.headers["Cache-Control"] == "no-cache"


async def test_welcome_page_offers_provider_and_alternative(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    client = harness.client
    response = await client.get("/auth/oidc/welcome?" + urlencode(authorize_query()))
    assert response.status == 200
    page = await response.text()
    assert "Log in with Pocket ID" in page
    assert "Use another login method" in page
    assert "skip_oidc_redirect=true" in page
    assert "script" not in page.lower()
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_user_outside_required_group_is_refused(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        roles={"user": "household"},
    )
    provider.user = {**provider.user, "groups": ["guests"]}
    users_before = len(await hass.auth.async_get_users())
    response = await harness.login()
    assert response.status == 403
    assert "not in a group that may use Home Assistant" in await response.text()
    assert len(await hass.auth.async_get_users()) == users_before


async def test_replayed_callback_is_refused(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    callback_query = await harness.start_at_provider()
    assert (await harness.callback(callback_query)).status == 302
    replay = await harness.callback(callback_query)
    assert replay.status == 400
    assert "expired or was already used" in await replay.text()


async def test_callback_from_another_browser_is_refused(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    callback_query = await harness.start_at_provider()
    harness.client.session.cookie_jar.clear()
    refused = await harness.callback(callback_query)
    assert refused.status == 400


async def test_provider_down_at_startup_then_back(
    hass: HomeAssistant, hass_client_no_auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A failed discovery is normally remembered for a few seconds: not here.
    monkeypatch.setattr(discovery, "DISCOVERY_RETRY_INTERVAL", 0.0)
    async with FakeProvider.running(alg="ES256") as provider:
        provider.status["discovery"] = 503
        harness = await setup_harness(
            hass, hass_client_no_auth, provider, frontend=True, client_secret=None
        )
        client = harness.client
        page = await (await client.get("/auth/oidc/welcome?" + urlencode(authorize_query()))).text()
        assert "cannot be reached right now" in page
        assert "Use another login method" in page
        provider.status.pop("discovery")
        response = await harness.login()
        assert response.status == 302
        assert response.headers["Location"].startswith(REDIRECT_URI)


@pytest.mark.parametrize("options", [{"features": {"default_redirect": True}}])
async def test_default_redirect_skips_welcome(
    hass: HomeAssistant, hass_client_no_auth, provider, options: dict[str, Any]
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None, **options
    )
    client = harness.client
    response = await client.get(
        "/auth/oidc/welcome?" + urlencode(authorize_query()), allow_redirects=False
    )
    assert response.status == 302
    assert response.headers["Location"].startswith(provider.issuer + "/authorize?")


async def test_home_assistant_login_page_lists_only_providers_it_can_run(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    assert [p.type for p in hass.auth.auth_providers] == ["homeassistant", DOMAIN]
    client = harness.client
    response = await client.get("/auth/providers")
    assert response.status == 200
    body = await response.json()
    assert [p["type"] for p in body["providers"]] == ["homeassistant"]
    assert "preselect_remember_me" in body


async def test_login_flow_from_provider_list_points_to_welcome_page(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    users_before = len(await hass.auth.async_get_users())
    client = harness.client
    response = await client.post(
        "/auth/login_flow",
        json={
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "handler": [DOMAIN, provider.issuer],
        },
    )
    result = await response.json()
    assert result["type"] == "abort"
    assert result["reason"] == "use_login_page"
    assert len(await hass.auth.async_get_users()) == users_before


async def test_unload_falls_back_to_home_assistant_login(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is None
    client = harness.client
    response = await client.get(
        "/auth/authorize?" + urlencode(authorize_query()), allow_redirects=False
    )
    assert response.status == 200
    assert await hass.config_entries.async_setup(entry.entry_id)
    response = await client.get(
        "/auth/authorize?" + urlencode(authorize_query()), allow_redirects=False
    )
    assert response.status == 302


async def test_a_single_group_sent_as_a_string_counts(
    hass: HomeAssistant, hass_client_no_auth, provider
) -> None:
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        roles={"user": "users"},
    )
    provider.user = {**provider.user, "groups": "admins"}
    tokens = await harness.login_ok()
    refresh_token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert refresh_token is not None
    assert [group.id for group in refresh_token.user.groups] == [GROUP_ID_ADMIN]


async def test_absent_groups_claim_is_refused_as_no_groups(
    hass: HomeAssistant, hass_client_no_auth, provider, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        roles={"user": "users"},
    )
    provider.user = {name: value for name, value in provider.user.items() if name != "groups"}
    users_before = len(await hass.auth.async_get_users())
    response = await harness.login()
    assert response.status == 403
    page = await response.text()
    assert "not in a group that may use Home Assistant" in page
    assert "the groups claim was absent" in page
    assert "Alice Admin refused: not in group users (the groups claim was absent)" in caplog.text
    assert len(await hass.auth.async_get_users()) == users_before


@pytest.mark.parametrize(
    "groups_and_shape", [(7, "a number"), ({"admins": True}, "an object"), (None, "null")]
)
async def test_malformed_groups_claim_is_refused_naming_its_shape(
    hass: HomeAssistant,
    hass_client_no_auth,
    provider,
    caplog: pytest.LogCaptureFixture,
    groups_and_shape: tuple[object, str],
) -> None:
    groups, shape = groups_and_shape
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        roles={"user": "users"},
    )
    provider.user = {**provider.user, "groups": groups}
    users_before = len(await hass.auth.async_get_users())
    response = await harness.login()
    assert response.status == 403
    page = await response.text()
    assert "sent your groups in a form Home Assistant cannot read" in page
    assert "not in a group that may use Home Assistant" not in page
    problem = f"the groups claim was {shape}, not a list of names"
    assert problem in page
    assert f"Alice Admin refused: not in group users ({problem})" in caplog.text
    assert len(await hass.auth.async_get_users()) == users_before


async def test_malformed_groups_claim_without_required_group_logs_in_as_plain_user(
    hass: HomeAssistant, hass_client_no_auth, provider, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    provider.user = {**provider.user, "groups": {"admins": True}}
    tokens = await harness.login_ok()
    refresh_token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert refresh_token is not None
    assert [group.id for group in refresh_token.user.groups] == [GROUP_ID_USER]
    assert (
        "Alice Admin logged in without groups: the groups claim was an object, "
        "not a list of names" in caplog.text
    )


@pytest.mark.parametrize("digest_name", ["sha256", "sha512"])
async def test_eddsa_id_token_with_either_at_hash_digest_logs_in(
    hass: HomeAssistant, hass_client_no_auth, digest_name: str
) -> None:
    async with FakeProvider.running(alg="EdDSA") as provider:
        provider.at_hash_digest = digest_name
        harness = await setup_harness(
            hass, hass_client_no_auth, provider, frontend=True, client_secret=None
        )
        response = await harness.login()
        assert response.status == 302, await response.text()
        tokens = await harness.redeem(response.headers["Location"])
    assert hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"]) is not None
    id_token = provider.token_responses[0]["id_token"]
    claims = json.loads(base64.urlsafe_b64decode(id_token.split(".")[1] + "=="))
    access_token = provider.token_responses[0]["access_token"]
    assert claims["at_hash"] == half_hash(access_token, "EdDSA", digest_name)


@pytest.mark.parametrize(
    ("code", "provider_error", "reason", "status"),
    [
        (ErrorCode.PROVIDER_ERROR, "access_denied", LoginPageReason.ACCESS_DENIED, 400),
        (ErrorCode.PROVIDER_ERROR, "server_error", LoginPageReason.PROVIDER_ERROR, 400),
        (ErrorCode.TOKEN_REQUEST_FAILED, "invalid_grant", LoginPageReason.VERIFICATION_FAILED, 400),
        (ErrorCode.TOKEN_REQUEST_FAILED, "invalid_client", LoginPageReason.CLIENT_REJECTED, 502),
        (
            ErrorCode.TOKEN_REQUEST_FAILED,
            "unauthorized_client",
            LoginPageReason.CLIENT_REJECTED,
            502,
        ),
        (ErrorCode.TOKEN_REQUEST_FAILED, "invalid_scope", LoginPageReason.CLIENT_REJECTED, 502),
        (ErrorCode.TOKEN_REQUEST_FAILED, None, LoginPageReason.PROVIDER_UNAVAILABLE, 502),
        (ErrorCode.TOKEN_REQUEST_FAILED, "server_error", LoginPageReason.PROVIDER_UNAVAILABLE, 502),
        (ErrorCode.USERINFO_FAILED, None, LoginPageReason.PROVIDER_UNAVAILABLE, 502),
        (ErrorCode.DISCOVERY_NOT_JSON, None, LoginPageReason.PROVIDER_UNAVAILABLE, 502),
        (ErrorCode.ID_TOKEN_SIGNATURE, None, LoginPageReason.VERIFICATION_FAILED, 400),
        (ErrorCode.CALLBACK_ISS, None, LoginPageReason.VERIFICATION_FAILED, 400),
    ],
)
def test_a_refused_callback_gets_the_page_the_core_classifies_it_as(
    code: ErrorCode, provider_error: str | None, reason: LoginPageReason, status: int
) -> None:
    page = callback_failure(OIDCError(code, provider_error=provider_error))
    assert (page.reason, page.status) == (reason, status)
