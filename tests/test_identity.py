"""Tests for mapping claims to an identity and a role."""

import pytest

from custom_components.auth_oidc.identity import (
    Role,
    groups_claim_problem,
    groups_from_claims,
    identity_from_claims,
)
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
    ("groups", "problem"),
    [
        (["admins", 1], "the groups claim listed a number among the names"),
        (
            [{"name": "admins"}, 2, True],
            "the groups claim listed a boolean and a number and an object among the names",
        ),
        ({"admins": True}, "the groups claim was an object, not a list of names"),
        (7, "the groups claim was a number, not a list of names"),
        (True, "the groups claim was a boolean, not a list of names"),
        (None, "the groups claim was null, not a list of names"),
        (["x"] * 1001, "the groups claim listed 1001 groups, more than 1000"),
    ],
)
def test_malformed_groups_grant_nothing_and_say_why(groups: object, problem: str) -> None:
    assert groups_from_claims({"groups": groups}, "groups") == ()
    assert groups_claim_problem({"groups": groups}, "groups") == problem
    identity = identity_from_claims(
        ISSUER, "u6", {"groups": groups}, settings(roles={"user": "users"})
    )
    assert identity.role is Role.USER
    assert not identity.allowed


@pytest.mark.parametrize(
    ("groups", "role", "allowed"),
    [("admins", Role.ADMIN, True), ("users", Role.USER, True), ("guests", Role.USER, False)],
)
def test_a_single_string_is_one_group(groups: str, role: Role, allowed: bool) -> None:
    assert groups_from_claims({"groups": groups}, "groups") == (groups,)
    assert groups_claim_problem({"groups": groups}, "groups") is None
    identity = identity_from_claims(
        ISSUER, "u8", {"groups": groups}, settings(roles={"user": "users"})
    )
    assert (identity.role, identity.allowed) == (role, allowed)


def test_an_empty_string_is_no_group() -> None:
    assert groups_from_claims({"groups": ""}, "groups") == ()


@pytest.mark.parametrize("claims", [{}, {"groups": []}, {"roles": ["admins"]}])
def test_absent_or_empty_groups_are_no_groups_not_a_malformed_claim(
    claims: dict[str, object],
) -> None:
    assert groups_from_claims(claims, "groups") == ()
    assert groups_claim_problem(claims, "groups") is None
    identity = identity_from_claims(ISSUER, "u9", claims, settings(roles={"user": "users"}))
    assert (identity.role, identity.allowed) == (Role.USER, False)


def test_overlong_or_blank_names_are_ignored() -> None:
    identity = identity_from_claims(
        ISSUER, "u7", {"name": " ", "preferred_username": "x" * 300}, settings()
    )
    assert identity.display_name == "u7"
    assert identity.username is None
