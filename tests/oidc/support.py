"""Helpers shared by the OpenID Connect core tests."""

import datetime
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from custom_components.auth_oidc.oidc import ClientSettings, LoginResult, OIDCClient
from tests.fake_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FakeProvider

REDIRECT_URI = "https://ha.example.test/auth/oidc/callback"


def make_settings(**overrides: Any) -> ClientSettings:
    options: dict[str, Any] = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "scopes": ("openid", "profile", "email", "groups"),
    }
    options.update(overrides)
    return ClientSettings(**options)


def make_client(
    session: aiohttp.ClientSession, provider: FakeProvider, **overrides: Any
) -> OIDCClient:
    client_options = {
        name: overrides.pop(name)
        for name in ("clock", "monotonic", "timeout", "ssl_context")
        if name in overrides
    }
    return OIDCClient(session, provider.discovery_url, make_settings(**overrides), **client_options)


async def login(client: OIDCClient, provider: FakeProvider) -> LoginResult:
    request = await client.start_authorization(REDIRECT_URI)
    query = await provider.authorize(request.url)
    return await client.complete_login(query, request)


@dataclass(frozen=True)
class TLSContexts:
    """A self-signed certificate for 127.0.0.1 and the matching contexts."""

    server_context: ssl.SSLContext
    trusting_client_context: ssl.SSLContext
    ca_pem: bytes


def self_signed_tls() -> TLSContexts:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with tempfile.TemporaryDirectory() as directory:
        cert_path = Path(directory) / "cert.pem"
        key_path = Path(directory) / "key.pem"
        cert_path.write_bytes(cert_pem)
        key_path.write_bytes(key_pem)
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert_path, key_path)
    client_context = ssl.create_default_context(cadata=cert_pem.decode())
    return TLSContexts(
        server_context=server_context, trusting_client_context=client_context, ca_pem=cert_pem
    )
