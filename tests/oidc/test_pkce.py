"""Tests for state, nonce and PKCE values."""

import base64
import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custom_components.auth_oidc.oidc import (
    code_challenge_s256,
    generate_code_verifier,
    generate_nonce,
    generate_state,
)

BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


@pytest.mark.parametrize("generate", [generate_state, generate_nonce, generate_code_verifier])
def test_random_values_are_long_base64url_and_unique(generate) -> None:
    values = [generate() for _ in range(200)]
    assert all(len(value) >= 43 and BASE64URL.fullmatch(value) for value in values)
    # 43 base64url characters carry 256 bits (>= 128 required); no repeats.
    assert len(set(values)) == len(values)


def test_code_verifier_has_rfc7636_length() -> None:
    assert 43 <= len(generate_code_verifier()) <= 128


def test_code_challenge_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@given(st.text(alphabet=UNRESERVED, min_size=43, max_size=128))
def test_code_challenge_is_unpadded_base64url_sha256(verifier: str) -> None:
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert code_challenge_s256(verifier) == expected.decode().rstrip("=")


@pytest.mark.parametrize(
    "verifier",
    ["a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + " ", "a" * 42 + "é", ""],
)
def test_code_challenge_refuses_invalid_verifiers(verifier: str) -> None:
    with pytest.raises(ValueError, match="43-128"):
        code_challenge_s256(verifier)
