"""Tests for the bounded store of pending logins."""

from custom_components.auth_oidc.login_clients import ClientRequest
from custom_components.auth_oidc.login_state import (
    PendingLogin,
    PendingLoginStore,
    binding_matches,
    new_browser_binding,
)
from custom_components.auth_oidc.oidc import AuthorizationRequest
from tests.fake_clock import FakeClock


def pending(created: float, binding_hash: str = "x") -> PendingLogin:
    return PendingLogin(
        entry_id="entry",
        client=ClientRequest("http://ha/", "http://ha/?auth_callback=1", "s", None, None),
        authorization=AuthorizationRequest(
            url="https://op/authorize",
            state="state",
            nonce="nonce",
            code_verifier="v",
            redirect_uri="http://ha/auth/oidc/callback",
        ),
        browser_binding_hash=binding_hash,
        created=created,
    )


def test_take_is_single_use() -> None:
    clock = FakeClock()
    store = PendingLoginStore(clock=clock)
    store.add("a", pending(clock.now))
    assert store.take("a") is not None
    assert store.take("a") is None
    assert store.take("never-added") is None


def test_expired_logins_are_refused_and_dropped() -> None:
    clock = FakeClock()
    store = PendingLoginStore(ttl=60, clock=clock)
    store.add("old", pending(clock.now))
    clock.now += 61
    assert store.take("old") is None
    store.add("a", pending(clock.now))
    clock.now += 61
    store.add("b", pending(clock.now))
    assert len(store) == 1  # "a" expired and was dropped when "b" arrived


def test_cap_evicts_oldest() -> None:
    clock = FakeClock()
    store = PendingLoginStore(cap=3, clock=clock)
    for index in range(10):
        store.add(str(index), pending(clock.now))
    assert len(store) == 3
    assert store.take("6") is None
    assert store.take("9") is not None


def test_browser_binding() -> None:
    cookie, binding_hash = new_browser_binding()
    login = pending(0, binding_hash)
    assert binding_matches(login, cookie)
    assert not binding_matches(login, None)
    assert not binding_matches(login, cookie + "x")
    assert cookie not in binding_hash


def test_one_address_evicts_only_its_own_logins() -> None:
    clock = FakeClock()
    store = PendingLoginStore(cap=10, per_address=3, clock=clock)
    store.add("victim", pending(clock.now), address="198.51.100.7")
    for index in range(50):
        store.add(f"attacker-{index}", pending(clock.now), address="203.0.113.66")
    assert len(store) == 4
    assert store.take("attacker-46") is None  # its own oldest went first
    assert store.take("attacker-49") is not None
    assert store.take("victim") is not None


def test_one_ipv6_network_evicts_only_its_own_logins() -> None:
    # Issue #14.5: an IPv6 host has a whole /64; each of its addresses is the same source.
    clock = FakeClock()
    store = PendingLoginStore(cap=10, per_address=3, clock=clock)
    store.add("victim", pending(clock.now), address="2001:db8:1::7")
    for index in range(50):
        store.add(f"attacker-{index}", pending(clock.now), address=f"2001:db8:2::{index + 1:x}")
    assert len(store) == 4
    assert store.take("attacker-46") is None
    assert store.take("attacker-49") is not None
    assert store.take("victim") is not None


def test_a_full_store_evicts_the_busiest_source_first() -> None:
    # A flood from several addresses fills the store: it loses its own logins, not others'.
    clock = FakeClock()
    store = PendingLoginStore(cap=10, per_address=5, clock=clock)
    store.add("victim", pending(clock.now), address="198.51.100.7")
    for index in range(30):
        store.add(f"attacker-{index}", pending(clock.now), address=f"203.0.113.{index % 3}")
    assert len(store) == 10
    assert store.take("victim") is not None


def test_ipv4_mapped_ipv6_is_the_ipv4_source() -> None:
    clock = FakeClock()
    store = PendingLoginStore(cap=10, per_address=2, clock=clock)
    store.add("a", pending(clock.now), address="203.0.113.5")
    store.add("b", pending(clock.now), address="::ffff:203.0.113.5")
    store.add("c", pending(clock.now), address="203.0.113.5")
    assert store.take("a") is None
    assert store.take("b") is not None
