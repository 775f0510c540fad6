"""Unguessable request values: state, nonce and the PKCE code verifier and challenge."""

import base64
import hashlib
import re
import secrets
from typing import Final

# 32 random bytes = 256 bits, encoded as 43 base64url characters.
_RANDOM_BYTES: Final = 32
# RFC 7636 §4.1: code_verifier = 43*128unreserved.
_CODE_VERIFIER_PATTERN: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def generate_state() -> str:
    """Return a fresh `state` value binding the callback to this browser session."""
    # RFC 6749 §10.10 / RFC 9700 §4.7.1: at least 128 bits of entropy, never reused.
    return secrets.token_urlsafe(_RANDOM_BYTES)


def generate_nonce() -> str:
    """Return a fresh `nonce` value binding the ID token to this authorization request."""
    # OIDC Core 1.0 §15.5.2: the nonce must be unguessable.
    return secrets.token_urlsafe(_RANDOM_BYTES)


def generate_code_verifier() -> str:
    """Return a fresh PKCE code verifier of 43 unreserved characters."""
    # RFC 7636 §4.1 / §7.1: 32 random octets, base64url-encoded, gives 256 bits of entropy.
    return secrets.token_urlsafe(_RANDOM_BYTES)


def code_challenge_s256(code_verifier: str) -> str:
    """Return the S256 code challenge for a code verifier."""
    # RFC 7636 §4.1: refuse verifiers outside the allowed length and alphabet.
    if not _CODE_VERIFIER_PATTERN.fullmatch(code_verifier):
        raise ValueError("code verifier must be 43-128 unreserved characters")
    # RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), unpadded; never "plain".
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
