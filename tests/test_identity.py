"""Tests for mapping claims to an identity and a role."""

import pytest

from custom_components.auth_oidc.identity import Role, groups_from_claims, identity_from_claims
from custom_components.auth_oidc.settings import validate_settings

ISSUER = "https://id.example.com"


def settings(**overrides: object):
    return validate_settings(
        {
            "client_id": "ha",
            "discovery_url": f"{ISSUER}/.well-known/openid-configuration",
            **overrides,
        }
    )


def test_admin_group_grants_admin() -> None:
    identity = identity_from_claims(
        ISSUER,
        "u1",
        {"name": "Alice", "preferred_username": "alice", "groups": ["admins"]},
        settings(),
    )
    assert identity.role is Role.ADMIN
    assert identity.allowed
    assert identity.key == (ISSUER, "u1")
    assert (identity.display_name, identity.username) == ("Alice", "alice")


def test_other_groups_give_user_role() -> None:
    identity = identity_from_claims(ISSUER, "u2", {"groups": ["users"]}, settings())
    assert identity.role is Role.USER
    assert identity.display_name == "u2"  # no name or username: the subject


def test_required_user_group_refuses_outsiders() -> None:
    configured = settings(roles={"user": "users"})
    assert not identity_from_claims(ISSUER, "u3", {"groups": ["guests"]}, configured).allowed
    assert identity_from_claims(ISSUER, "u3", {"groups": ["users"]}, configured).allowed
    # Administrators may always log in.
    assert identity_from_claims(ISSUER, "u3", {"groups": ["admins"]}, configured).allowed


def test_configurable_claim_names() -> None:
    configured = settings(
        claims={"display_name": "nickname", "username": "email", "groups": "roles"}
    )
    identity = identity_from_claims(
        ISSUER, "u4", {"nickname": "Al", "email": "al@example.com", "roles": ["admins"]}, configured
    )
    assert (identity.display_name, identity.username, identity.role) == (
        "Al",
        "al@example.com",
        Role.ADMIN,
    )


def test_admin_role_can_be_disabled() -> None:
    identity = identity_from_claims(
        ISSUER, "u5", {"groups": ["admins"]}, settings(roles={"admin": ""})
    )
    assert identity.role is Role.USER


@pytest.mark.parametrize(
    "groups",
    [
        "admins",  # a string, not a list
        ["admins", 1],  # a non-string member
        {"admins": True},
        None,
        ["x"] * 1001,  # too many
    ],
)
def test_malformed_groups_grant_nothing(groups: object) -> None:
    assert groups_from_claims({"groups": groups}, "groups") == ()
    identity = identity_from_claims(
        ISSUER, "u6", {"groups": groups}, settings(roles={"user": "users"})
    )
    assert identity.role is Role.USER
    assert not identity.allowed


def test_overlong_or_blank_names_are_ignored() -> None:
    identity = identity_from_claims(
        ISSUER, "u7", {"name": " ", "preferred_username": "x" * 300}, settings()
    )
    assert identity.display_name == "u7"
    assert identity.username is None
