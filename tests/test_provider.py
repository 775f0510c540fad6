"""Tests for the auth provider: identity keys, roles on every login, linking, persons."""

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from homeassistant.auth.const import GROUP_ID_ADMIN, GROUP_ID_USER
from homeassistant.auth.providers.homeassistant import HassAuthProvider
from homeassistant.core import HomeAssistant

from custom_components.auth_oidc.const import DOMAIN
from tests.fake_provider import FakeProvider
from tests.login_driver import setup_harness

pytestmark = [pytest.mark.usefixtures("onboarded"), pytest.mark.fake_provider(alg="RS256")]


async def user_of(hass: HomeAssistant, tokens: dict[str, Any]):
    refresh_token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert refresh_token is not None
    return refresh_token.user


async def add_local_user(
    hass: HomeAssistant, local_auth: HassAuthProvider, username: str, name: str
):
    """Create a Home Assistant username/password user."""
    await local_auth.async_add_auth(username, "a-long-password")
    credentials = await local_auth.async_get_or_create_credentials({"username": username})
    return await hass.auth.async_get_or_create_user(credentials)


async def test_same_username_never_logs_in_as_existing_user_without_linking(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider, local_auth: HassAuthProvider
) -> None:
    existing = await add_local_user(hass, local_auth, "alice", "Alice Local")
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    user = await user_of(hass, await harness.login_ok())
    assert user.id != existing.id
    assert {c.auth_provider_type for c in user.credentials} == {DOMAIN}


async def test_automatic_user_linking_links_by_exact_username(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider, local_auth: HassAuthProvider
) -> None:
    existing = await add_local_user(hass, local_auth, "alice", "Alice Local")
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        features={"automatic_user_linking": True},
    )
    user = await user_of(hass, await harness.login_ok())
    assert user.id == existing.id
    assert {c.auth_provider_type for c in user.credentials} == {"homeassistant", DOMAIN}
    # No second person: the user existed before.
    assert hass.data["person"][1].async_items() == []


async def test_owner_is_never_demoted(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider, local_auth: HassAuthProvider
) -> None:
    owner = await add_local_user(hass, local_auth, "alice", "Owner")
    await hass.auth.async_update_user(owner, group_ids=[GROUP_ID_ADMIN])
    owner.is_owner = True
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        features={"automatic_user_linking": True},
    )
    linked = await user_of(hass, await harness.login_ok())
    assert linked.id == owner.id
    # Later the provider drops the administrator group: the owner stays an administrator.
    provider.user = {**provider.user, "groups": []}
    user = await user_of(hass, await harness.login_ok())
    assert user.id == owner.id
    assert [group.id for group in user.groups] == [GROUP_ID_ADMIN]


@pytest.mark.parametrize(
    "usernames",
    [
        ("strasse", "straße"),  # case folding maps ß to ss
        ("kelvin", "\u212aelvin"),  # ... and the Kelvin sign to k
        ("alice", "Alice"),
    ],
    ids=["eszett", "kelvin-sign", "case"],
)
async def test_automatic_user_linking_needs_an_exactly_equal_username(
    hass: HomeAssistant,
    hass_client_no_auth,
    provider: FakeProvider,
    local_auth: HassAuthProvider,
    usernames: tuple[str, str],
) -> None:
    local_username, provider_username = usernames
    existing = await add_local_user(hass, local_auth, local_username, "Local")
    await hass.auth.async_update_user(existing, group_ids=[GROUP_ID_USER])
    provider.user = {**provider.user, "preferred_username": provider_username, "groups": []}
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        features={"automatic_user_linking": True},
    )
    user = await user_of(hass, await harness.login_ok())
    assert user.id != existing.id
    assert {c.auth_provider_type for c in existing.credentials} == {"homeassistant"}


@pytest.mark.parametrize("owner", [False, True], ids=["administrator", "owner"])
async def test_automatic_user_linking_gives_an_administrator_only_to_an_administrator_login(
    hass: HomeAssistant,
    hass_client_no_auth,
    provider: FakeProvider,
    local_auth: HassAuthProvider,
    owner: bool,
) -> None:
    admin = await add_local_user(hass, local_auth, "alice", "Alice Local")
    await hass.auth.async_update_user(admin, group_ids=[GROUP_ID_ADMIN])
    admin.is_owner = owner
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        features={"automatic_user_linking": True},
    )
    # Same username, but the provider does not put this login in the administrator group.
    provider.user = {**provider.user, "groups": ["users"]}
    plain = await user_of(hass, await harness.login_ok())
    assert plain.id != admin.id
    assert [group.id for group in plain.groups] == [GROUP_ID_USER]
    assert {c.auth_provider_type for c in admin.credentials} == {"homeassistant"}
    # Another account at the provider, same username, in the administrator group: linked.
    provider.user = {**provider.user, "sub": "another-subject", "groups": ["admins"]}
    linked = await user_of(hass, await harness.login_ok())
    assert linked.id == admin.id


async def test_identity_is_issuer_and_subject(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    first = await user_of(hass, await harness.login_ok())
    # Same username and e-mail, another subject: another person.
    provider.user = {**provider.user, "sub": "another-subject"}
    second = await user_of(hass, await harness.login_ok())
    assert first.id != second.id
    assert [group.id for group in second.groups] == [GROUP_ID_ADMIN]


async def test_no_person_when_disabled(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass,
        hass_client_no_auth,
        provider,
        frontend=True,
        client_secret=None,
        features={"automatic_person_creation": False},
    )
    await harness.login_ok()
    await hass.async_block_till_done()
    assert hass.data["person"][1].async_items() == []


async def test_plain_user_role(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider
) -> None:
    provider.user = {**provider.user, "groups": ["ha-users"]}
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    user = await user_of(hass, await harness.login_ok())
    assert [group.id for group in user.groups] == [GROUP_ID_USER]
    assert not user.is_admin


async def test_deactivated_user_is_refused(
    hass: HomeAssistant, hass_client_no_auth, provider: FakeProvider
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    user = await user_of(hass, await harness.login_ok())
    await hass.auth.async_update_user(user, is_active=False)
    response = await harness.login()
    assert response.status == 403
    assert "deactivated" in await response.text()


@pytest.mark.parametrize(
    ("client_id", "redirect_uri"),
    [
        ("https://home-assistant.io/iOS", "homeassistant://auth-callback"),
        ("https://home-assistant.io/android", "homeassistant://auth-callback"),
    ],
)
async def test_companion_app_redirect_has_no_extra_parameters(
    hass: HomeAssistant,
    hass_client_no_auth,
    provider: FakeProvider,
    client_id: str,
    redirect_uri: str,
) -> None:
    harness = await setup_harness(
        hass, hass_client_no_auth, provider, frontend=True, client_secret=None
    )
    client = harness.client
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    response = await client.post(
        "/auth/oidc/redirect",
        data={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": "app-state-1234",
            "entry_id": entry.entry_id,
            "store_token": "true",  # ignored for clients other than the web frontend
        },
        allow_redirects=False,
    )
    callback_query = await provider.authorize(response.headers["Location"])
    done = await client.get(
        "/auth/oidc/callback?" + urlencode(callback_query), allow_redirects=False
    )
    location = done.headers["Location"]
    assert location.startswith(redirect_uri + "?code=")
    assert set(parse_qs(urlsplit(location).query)) == {"code", "state"}
    token_response = await client.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": parse_qs(urlsplit(location).query)["code"][0],
        },
    )
    assert token_response.status == 200
