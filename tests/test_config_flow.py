"""Tests for the UI setup: presets, live discovery checks, errors, reconfigure and options."""

import asyncio
import json
import re
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from homeassistant.config_entries import SOURCE_IMPORT, SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, section
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.helpers.selector import SelectSelector
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.auth_oidc import config_flow
from custom_components.auth_oidc.config_flow import (
    CALLBACK_URL_UNKNOWN,
    DISCOVERY_ERRORS,
    FOUND,
    NOT_FOUND,
    UNUSABLE,
)
from custom_components.auth_oidc.const import DOMAIN
from custom_components.auth_oidc.oidc import WELL_KNOWN_PATH, DiscoveryError, ErrorCode, probe
from custom_components.auth_oidc.presets import PRESETS
from custom_components.auth_oidc.settings import (
    ENTRY_VERSION,
    SETTINGS_SCHEMA,
    DeviceLoginMode,
    settings_from_config,
    settings_from_entry,
    split_config,
)
from tests.fake_provider import DEFAULT_USER, FakeProvider
from tests.login_driver import Harness, authorize_query, setup_harness
from tests.oidc.support import self_signed_tls

pytestmark = [
    pytest.mark.usefixtures("onboarded", "socket_enabled"),
    pytest.mark.fake_provider(alg="RS256", user=DEFAULT_USER),
]

PACKAGE = Path(__file__).parents[1] / "custom_components" / "auth_oidc"
STRINGS = json.loads((PACKAGE / "strings.json").read_text(encoding="utf-8"))
LANGUAGES = ("en", "de", "nl", "fr", "es")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
TENANT = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
SECRET = "fake-client-secret-0123456789-abcdefghij"
CLAIMS = {"groups": "groups", "display_name": "name", "username": "preferred_username"}
ROLES = {"roles": {"admin": "admins"}, "groups_scope": "groups", "claims": CLAIMS}
LINKING = {
    "features": {
        "automatic_user_linking": False,
        "automatic_person_creation": True,
        "default_redirect": False,
    }
}


@asynccontextmanager
async def serve(prefix: str = "", *, host: str = "127.0.0.1") -> AsyncIterator[FakeProvider]:
    """Serve a FakeProvider whose issuer has a path, like Keycloak's /realms/<realm>."""
    provider = FakeProvider(alg="ES256")
    app = provider.app()
    if prefix:
        app = web.Application()
        app.add_subapp(prefix, provider.app())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    provider.issuer = f"http://{host}:{runner.addresses[0][1]}{prefix}"
    try:
        yield provider
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_tls(server_context: ssl.SSLContext) -> AsyncIterator[FakeProvider]:
    """Serve an https FakeProvider from its own thread and event loop.

    A refused TLS handshake is reported on the server's loop; kept away from Home
    Assistant's loop, it does not count as an uncaught exception of the test.
    """
    provider = FakeProvider(alg="ES256")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="tls-provider")
    thread.start()

    async def start_server() -> web.AppRunner:
        runner = web.AppRunner(provider.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context).start()
        return runner

    def in_thread(coroutine: Any) -> Any:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, loop))

    runner = await in_thread(start_server())
    provider.issuer = f"https://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield provider
    finally:
        await in_thread(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


class StaticResolver(AbstractResolver):
    """Resolve every host name to 127.0.0.1, like DNS for a provider on the LAN."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        """Nothing to release."""


def self_signed_certificate(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """Return a server context for 127.0.0.1 and the path of its CA (self-signed) file."""
    tls = self_signed_tls()
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(tls.ca_pem)
    return tls.server_context, ca_file


# -- translations: every form, field, error and placeholder --------------------------------


def assert_translated(result: Any, section: str = "config") -> None:
    """Check a flow result against strings.json like the frontend would render it."""
    strings = STRINGS[section]
    if result["type"] is FlowResultType.ABORT:
        # Our own wording for every abort, Home Assistant's generic messages included.
        assert result.get("translation_domain") is None, result["reason"]
        assert result["reason"] in strings["abort"], result["reason"]
        return
    if result["type"] is not FlowResultType.FORM:
        return
    step = strings["step"][result["step_id"]]
    placeholders = result.get("description_placeholders") or {}
    texts = [step["title"], step.get("description", "")]
    texts += translated_fields(result["step_id"], result["data_schema"], step)
    for error in (result["errors"] or {}).values():
        assert error in strings["error"], error
        texts.append(strings["error"][error])
    for text in texts:
        assert set(PLACEHOLDER.findall(text)) <= set(placeholders), text
    for name, value in placeholders.items():
        # The frontend shows a value as is: a "{name}" in it would reach the user verbatim.
        assert not PLACEHOLDER.search(str(value)), (name, value)


def translated_fields(step_id: str, schema: Any, step: dict[str, Any]) -> list[str]:
    """Check that every field (in sections too) has a label and a description; return texts."""
    texts: list[str] = []
    for key, value in schema.schema.items():
        if isinstance(value, section):
            texts.append(step["sections"][str(key)]["name"])
            texts += translated_fields(step_id, value.schema, step["sections"][str(key)])
            continue
        assert str(key) in step["data"], f"{step_id}: label for {key}"
        assert str(key) in step["data_description"], f"{step_id}: description of {key}"
        if isinstance(value, SelectSelector) and (name := value.config.get("translation_key")):
            options = STRINGS["selector"][name]["options"]
            assert set(value.config["options"]) <= set(options), name
        texts.append(step["data_description"][str(key)])
    return texts


async def configure(
    hass: HomeAssistant, flow_id: str, user_input: dict[str, Any] | None = None
) -> Any:
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert_translated(result)
    return result


async def start(hass: HomeAssistant, preset: str = "pocket_id") -> Any:
    """Start a user flow, pick `preset`, and return the provider_url form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert_translated(result)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await configure(hass, result["flow_id"], {"preset": preset})
    assert result["step_id"] == "provider_url"
    return result


async def create_entry(
    hass: HomeAssistant,
    discovery_input: dict[str, Any],
    *,
    preset: str = "pocket_id",
    client: dict[str, Any] | None = None,
    roles: dict[str, Any] | None = None,
    linking: dict[str, Any] | None = None,
) -> Any:
    result = await start(hass, preset)
    result = await configure(hass, result["flow_id"], discovery_input)
    assert result["step_id"] == "client", result.get("errors")
    result = await configure(
        hass,
        result["flow_id"],
        client or {"client_id": "ha-client", "display_name": "Pocket ID"},
    )
    assert result["step_id"] == "roles", result.get("errors")
    result = await configure(hass, result["flow_id"], roles or ROLES)
    assert result["step_id"] == "linking"
    result = await configure(hass, result["flow_id"], linking or LINKING)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return result


async def reconfigure(hass: HomeAssistant, entry: Any) -> Any:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert_translated(result)
    return result


def suggested(result: Any, field: str) -> Any:
    """Return the suggested value of `field`; `section.field` for a field in a section."""
    schema = result["data_schema"]
    *sections, name = field.split(".")
    for part in sections:
        schema = next(value for key, value in schema.schema.items() if str(key) == part).schema
    for key in schema.schema:
        if str(key) == name:
            return (key.description or {}).get("suggested_value")
    raise AssertionError(f"no field {field}")


def fields(result: Any) -> list[str]:
    return [str(key) for key in result["data_schema"].schema]


def test_every_language_translates_every_string_with_the_same_placeholders() -> None:
    def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
        flat: dict[str, str] = {}
        for key, value in tree.items():
            if isinstance(value, dict):
                flat |= flatten(value, f"{prefix}{key}.")
            else:
                flat[prefix + key] = value
        return flat

    english = flatten(STRINGS)
    for language in LANGUAGES:
        path = PACKAGE / "translations" / f"{language}.json"
        translated = flatten(json.loads(path.read_text(encoding="utf-8")))
        assert translated.keys() == english.keys(), language
        for key, text in english.items():
            assert set(PLACEHOLDER.findall(translated[key])) == set(PLACEHOLDER.findall(text)), (
                language,
                key,
            )


def test_every_error_the_flow_can_show_is_translated() -> None:
    source = (PACKAGE / "config_flow.py").read_text(encoding="utf-8")
    keys = set(re.findall(r'\{"?\w+"?: "([a-z_]+)"\}', source))
    keys |= set(re.findall(r'_FieldError\("\w+", "(\w+)"', source))
    keys |= {"required", "invalid_url", "invalid_segment", "invalid_tenant_id"}
    keys |= {str(code) for code in DISCOVERY_ERRORS} | {ErrorCode.DISCOVERY_NO_AUTH_METHOD.value}
    keys -= {"base"}
    assert keys <= set(STRINGS["config"]["error"])
    assert set(STRINGS["config"]["error"]) <= keys | {"unknown"}
    assert set(STRINGS["selector"]["preset"]["options"]) == set(PRESETS)


# -- the happy path ---------------------------------------------------------------------


async def test_user_step_offers_every_preset(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["data_schema"] is not None
    selector = result["data_schema"].schema["preset"]
    assert selector.config["options"] == list(PRESETS)
    assert selector.config["translation_key"] == "preset"


async def test_pocket_id_flow_creates_entry_in_settings_shape(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    await hass.config.async_update(external_url="https://ha.example.com")
    result = await start(hass, "pocket_id")
    placeholders = result["description_placeholders"]
    assert placeholders["url_pattern"] == "<provider-address>/.well-known/openid-configuration"
    assert placeholders["guide_url"].endswith("docs/providers/pocket_id.md")
    assert fields(result) == ["base_url"]

    result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["step_id"] == "client"
    placeholders = result["description_placeholders"]
    assert placeholders["issuer"] == provider.issuer
    assert placeholders["algorithms"] == "RS256"
    assert placeholders["pkce"] == FOUND
    assert placeholders["groups_scope_found"] == FOUND
    assert placeholders["groups_claim_found"] == FOUND
    assert placeholders["callback_url"] == "https://ha.example.com/auth/oidc/callback"
    assert placeholders["backchannel_logout_url"] == (
        "https://ha.example.com/auth/oidc/backchannel-logout"
    )
    assert suggested(result, "display_name") == "Pocket ID"

    result = await configure(
        hass,
        result["flow_id"],
        {"client_id": " ha-client ", "client_secret": SECRET, "display_name": "Pocket ID"},
    )
    assert result["step_id"] == "roles"
    assert result["description_placeholders"]["suggested_admin_group"] == "admins"
    assert suggested(result, "roles.admin") == "admins"
    roles = {**ROLES, "roles": {"admin": "admins", "user": "ha-users"}}
    result = await configure(hass, result["flow_id"], roles)
    assert result["step_id"] == "linking"
    assert suggested(result, "features.automatic_person_creation") is True
    result = await configure(hass, result["flow_id"], LINKING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Pocket ID"
    # The connection and what the check found in data, the user's choices in options.
    data, options = result["data"], result["options"]
    assert set(data) == {
        "client_id",
        "client_secret",
        "discovery_url",
        "display_name",
        "network",
        "provider",
    }
    assert set(options) == {"groups_scope", "additional_scopes", "roles", "claims", "features"}
    assert data | options == SETTINGS_SCHEMA(data | options)
    assert data["client_id"] == "ha-client"
    assert data["client_secret"] == SECRET
    assert data["discovery_url"] == provider.discovery_url
    assert data["provider"] == {"use_pkce": True}
    assert data["network"] == {
        "tls_verify": True,
        "tls_ca_path": None,
        "allow_insecure_http": False,
    }
    assert options["roles"] == {"admin": "admins", "user": "ha-users"}
    assert options["features"]["automatic_user_linking"] is False

    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.unique_id == provider.issuer
    assert entry.version == ENTRY_VERSION
    settings = settings_from_entry(entry)
    assert settings.scopes == ("openid", "profile", "email", "groups")
    assert entry.runtime_data.settings == settings
    assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is not None


@pytest.mark.parametrize(
    ("preset", "prefix", "values", "expected"),
    [
        ("pocket_id", "", {}, {"admin": "admins", "groups_scope": "groups"}),
        (
            "authentik",
            "/application/o/home-assistant",
            {"slug": "home-assistant"},
            {"admin": "Home Assistant Admins", "groups_scope": ""},
        ),
        ("authelia", "", {}, {"admin": "admins", "groups_scope": "groups"}),
        (
            "keycloak",
            "/realms/home",
            {"realm": "home"},
            {"admin": "home-assistant-admins", "groups_scope": "groups"},
        ),
        (
            "kanidm",
            "/oauth2/openid/ha-client",
            {"client_id": "ha-client"},
            {"admin": "home_assistant_admins@127.0.0.1", "groups_scope": "groups"},
        ),
        ("zitadel", "", {}, {"admin": "admins", "groups_scope": ""}),
    ],
)
async def test_presets_build_discovery_url_and_fill_defaults(
    hass: HomeAssistant, preset: str, prefix: str, values: dict[str, str], expected: dict[str, str]
) -> None:
    async with serve(prefix) as provider:
        base = provider.issuer.removesuffix(prefix)
        result = await start(hass, preset)
        assert fields(result) == [field.value for field in PRESETS[preset].fields]
        result = await configure(hass, result["flow_id"], {"base_url": base + "/", **values})
        assert result["step_id"] == "client", result["errors"]
        assert result["description_placeholders"]["issuer"] == provider.issuer
        assert result["description_placeholders"]["algorithms"] == "ES256"
        assert suggested(result, "client_id") == values.get("client_id")
        assert suggested(result, "display_name") == PRESETS[preset].name
        result = await configure(
            hass, result["flow_id"], {"client_id": "ha-client", "display_name": "SSO"}
        )
        assert result["step_id"] == "roles"
        assert suggested(result, "roles.admin") == expected["admin"]
        assert suggested(result, "groups_scope") == expected["groups_scope"]
        assert result["description_placeholders"]["suggested_admin_group"] == expected["admin"]
        result = await configure(
            hass,
            result["flow_id"],
            {"roles": {"admin": expected["admin"]}, "claims": CLAIMS}
            | ({"groups_scope": expected["groups_scope"]} if expected["groups_scope"] else {}),
        )
        result = await configure(hass, result["flow_id"], LINKING)
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["discovery_url"] == provider.discovery_url
        assert result["options"]["groups_scope"] == expected["groups_scope"]
        assert result["result"].unique_id == provider.issuer


async def test_other_and_entra_id_accept_full_discovery_url(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    result = await create_entry(hass, {"discovery_url": provider.issuer}, preset="other")
    assert result["data"]["discovery_url"] == provider.discovery_url
    async with serve("/tenant/v2.0") as entra:
        result = await start(hass, "entra_id")
        assert fields(result) == ["tenant_id"]
        result = await configure(hass, result["flow_id"], {"tenant_id": entra.discovery_url})
        assert result["step_id"] == "client"
        result = await configure(
            hass, result["flow_id"], {"client_id": "ha", "display_name": "Entra ID"}
        )
        # Entra ID sends app roles in the "roles" claim and has no groups scope.
        assert suggested(result, "claims.groups") == "roles"
        assert suggested(result, "groups_scope") == ""


async def test_entra_id_tenant_becomes_microsoft_discovery_url(hass: HomeAssistant) -> None:
    result = await start(hass, "entra_id")
    result = await configure(hass, result["flow_id"], {"tenant_id": "contoso.onmicrosoft.com"})
    assert result["errors"] == {"tenant_id": "invalid_tenant_id"}
    unreachable = DiscoveryError(ErrorCode.DISCOVERY_UNREACHABLE, "offline")
    with patch.object(probe, "fetch_provider_metadata", side_effect=unreachable) as fetch:
        result = await configure(hass, result["flow_id"], {"tenant_id": TENANT})
    assert fetch.call_args.args[1] == (
        f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"
    )
    assert result["errors"] == {"base": "discovery_unreachable"}


async def test_callback_url_without_configured_url(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    result = await start(hass)
    with patch.object(config_flow, "get_url", side_effect=NoURLAvailableError) as get_url:
        result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["description_placeholders"]["callback_url"] == CALLBACK_URL_UNKNOWN
    # Tried: configured names first, then the URL of the request that shows the form,
    # then anything including a bare IP address.
    assert [call.kwargs for call in get_url.call_args_list] == [
        {"prefer_external": True, "allow_ip": False},
        {"require_current_request": True},
        {"prefer_external": True},
    ]


# -- errors: shown, then recovered from in the same flow ------------------------------------


def _no_code_flow(provider: FakeProvider) -> None:
    provider.discovery_override = {"response_types_supported": ["id_token"]}


@pytest.mark.parametrize(
    ("error", "break_provider"),
    [
        ("discovery_http_status", lambda p: p.status.update(discovery=500)),
        ("discovery_not_json", lambda p: setattr(p, "discovery_raw", b"<html>login</html>")),
        ("discovery_invalid", lambda p: p.discovery_remove.add("jwks_uri")),
        (
            "discovery_issuer_mismatch",
            lambda p: p.discovery_override.update(issuer="https://evil.example"),
        ),
        ("discovery_no_code_flow", _no_code_flow),
        (
            "discovery_no_usable_alg",
            lambda p: p.discovery_override.update(id_token_signing_alg_values_supported=["HS256"]),
        ),
        ("jwks_unreachable", lambda p: p.status.update(jwks=503)),
        ("jwks_invalid", lambda p: setattr(p, "jwks_override", b"not json")),
        ("jwks_empty", lambda p: setattr(p, "jwks_override", {"keys": []})),
        ("response_too_large", lambda p: p.oversize.update(discovery=2 * 1024 * 1024)),
    ],
)
async def test_provider_errors_are_shown_and_recoverable(
    hass: HomeAssistant, error: str, break_provider: Any
) -> None:
    async with FakeProvider.running(alg="RS256") as provider:
        result = await start(hass)
        break_provider(provider)
        result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "provider_url"
        assert result["errors"] == {"base": error}
        assert suggested(result, "base_url") == provider.issuer
        fixed = FakeProvider(alg="RS256")
        fixed.issuer = provider.issuer
        provider.__dict__.update(
            {key: value for key, value in fixed.__dict__.items() if not key.startswith("_")}
        )
        result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
        assert result["step_id"] == "client"


async def test_timeout_is_shown_and_recoverable(
    hass: HomeAssistant, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_flow, "DISCOVERY_TIMEOUT", 0.2)
    provider.response_delay = {"discovery": 2.0}
    result = await start(hass)
    result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["errors"] == {"base": "timeout"}
    provider.response_delay = {}
    result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["step_id"] == "client"


async def test_unreachable_and_mistyped_addresses_can_be_corrected(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = await start(hass, "keycloak")
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, {"base_url": closed, "realm": "home"})
    assert result["errors"] == {"base": "discovery_unreachable"}
    assert suggested(result, "realm") == "home"
    result = await configure(hass, flow_id, {"base_url": "ftp://kc.example.com", "realm": "x"})
    assert result["errors"] == {"base_url": "invalid_url"}
    result = await configure(hass, flow_id, {"base_url": "https://kc.example.com"})
    assert result["errors"] == {"realm": "required"}
    result = await configure(hass, flow_id, {"base_url": "https://kc.example.com", "realm": "a/b"})
    assert result["errors"] == {"realm": "invalid_segment"}
    bad_scheme = "ftp://kc.example.com/.well-known/openid-configuration"
    result = await configure(hass, flow_id, {"base_url": bad_scheme})
    assert result["errors"] == {"base": "discovery_url_invalid"}
    assert result["description_placeholders"]["error_detail"] == "not an absolute http(s) URL"
    # A full discovery URL works in the Keycloak preset too.
    result = await configure(hass, flow_id, {"base_url": provider.discovery_url})
    assert result["step_id"] == "client"


async def test_unexpected_errors_are_shown_and_recoverable(
    hass: HomeAssistant, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    result = await start(hass)
    with patch.object(probe, "JWKSCache", side_effect=RuntimeError("boom")):
        result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while checking the provider" in caplog.text
    token_error = DiscoveryError(ErrorCode.TOKEN_REQUEST_FAILED, "not a discovery code")
    with patch.object(probe, "usable_algorithms", side_effect=token_error):
        result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["errors"] == {"base": "unknown"}
    result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["step_id"] == "client"


# Pooled TLS connections to the provider close after the test, with a timer of their own.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_untrusted_certificate_offers_ca_file(hass: HomeAssistant, tmp_path: Path) -> None:
    server_context, ca_file = self_signed_certificate(tmp_path)
    not_a_certificate = tmp_path / "notes.txt"
    not_a_certificate.write_text("hello")
    async with serve_tls(server_context) as provider:
        result = await start(hass)
        flow_id = result["flow_id"]
        assert "tls_ca_path" not in fields(result)
        result = await configure(hass, flow_id, {"base_url": provider.issuer})
        assert result["errors"] == {"base": "discovery_tls"}
        assert "certificate" in result["description_placeholders"]["error_detail"]
        assert fields(result) == ["base_url", "tls_ca_path"]
        missing = str(tmp_path / "missing.pem")
        result = await configure(
            hass, flow_id, {"base_url": provider.issuer, "tls_ca_path": missing}
        )
        assert result["errors"] == {"tls_ca_path": "ca_file_not_found"}
        assert suggested(result, "tls_ca_path") == missing
        result = await configure(
            hass, flow_id, {"base_url": provider.issuer, "tls_ca_path": str(not_a_certificate)}
        )
        assert result["errors"] == {"tls_ca_path": "ca_file_invalid"}
        result = await configure(
            hass, flow_id, {"base_url": provider.issuer, "tls_ca_path": str(ca_file)}
        )
        assert result["step_id"] == "client"
        result = await configure(hass, flow_id, {"client_id": "ha", "display_name": "Private"})
        result = await configure(hass, flow_id, ROLES)
        result = await configure(hass, flow_id, LINKING)
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["network"]["tls_ca_path"] == str(ca_file)
        await hass.async_block_till_done()
        assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is not None


async def test_plain_http_on_the_network_needs_confirmation(hass: HomeAssistant) -> None:
    async with (
        serve(host="idp.lan") as provider,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=StaticResolver())) as lan,
    ):
        with patch.object(config_flow, "async_get_clientsession", return_value=lan):
            result = await start(hass)
            flow_id = result["flow_id"]
            result = await configure(hass, flow_id, {"base_url": provider.issuer})
            assert result["errors"] == {"base": "discovery_insecure_endpoint"}
            assert fields(result) == ["base_url", "allow_insecure_http"]
            result = await configure(
                hass, flow_id, {"base_url": provider.issuer, "allow_insecure_http": True}
            )
            assert result["step_id"] == "client"
        result = await configure(hass, flow_id, {"client_id": "ha", "display_name": "LAN"})
        result = await configure(hass, flow_id, ROLES)
        result = await configure(hass, flow_id, LINKING)
        assert result["data"]["network"]["allow_insecure_http"] is True
        await hass.async_block_till_done()
        entry = result["result"]
        assert entry.unique_id == provider.issuer
        assert entry.runtime_data.client.settings.allow_insecure_http is True
        assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is not None


async def test_insecure_endpoint_in_document_needs_confirmation(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    provider.discovery_override = {"token_endpoint": "http://idp.lan/token"}
    result = await start(hass)
    result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["errors"] == {"base": "discovery_insecure_endpoint"}
    result = await configure(
        hass, result["flow_id"], {"base_url": provider.issuer, "allow_insecure_http": True}
    )
    assert result["step_id"] == "client"


# Pooled TLS connections to the provider close after the test, with a timer of their own.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_https_document_with_a_loopback_http_endpoint_needs_confirmation(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    # Issue #14.5: Pocket ID with INTERNAL_APP_URL publishes its back channel on an internal
    # http address. Inside an https document that is a downgrade, even on loopback.
    server_context, ca_file = self_signed_certificate(tmp_path)
    async with serve_tls(server_context) as provider:
        internal = "http://127.0.0.1:1411"
        provider.discovery_override = {
            "token_endpoint": f"{internal}/api/oidc/token",
            "userinfo_endpoint": f"{internal}/api/oidc/userinfo",
        }
        result = await start(hass)
        flow_id = result["flow_id"]
        form = {"base_url": provider.issuer, "tls_ca_path": str(ca_file)}
        result = await configure(hass, flow_id, {"base_url": provider.issuer})
        assert result["errors"] == {"base": "discovery_tls"}
        result = await configure(hass, flow_id, form)
        assert result["errors"] == {"base": "discovery_insecure_endpoint"}
        detail = result["description_placeholders"]["error_detail"]
        assert f"{internal}/api/oidc/token" in detail
        assert "allow_insecure_http" in fields(result)
        result = await configure(hass, flow_id, {**form, "allow_insecure_http": True})
        assert result["step_id"] == "client"
        result = await configure(hass, flow_id, {"client_id": "ha", "display_name": "Pocket"})
        result = await configure(hass, flow_id, ROLES)
        result = await configure(hass, flow_id, LINKING)
        assert result["data"]["network"]["allow_insecure_http"] is True
        await hass.async_block_till_done()


# Pooled TLS connections to the provider close after the test, with a timer of their own.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_login_page_names_a_downgraded_endpoint_and_how_to_allow_it(
    hass: HomeAssistant, hass_client_no_auth: Any, tmp_path: Path
) -> None:
    server_context, ca_file = self_signed_certificate(tmp_path)
    async with serve_tls(server_context) as provider:
        token_endpoint = "http://127.0.0.1:1411/api/oidc/token"
        provider.discovery_override = {"token_endpoint": token_endpoint}
        harness = await setup_harness(
            hass,
            hass_client_no_auth,
            provider,
            frontend=True,
            client_secret=None,
            network={"tls_ca_path": str(ca_file)},
        )
        entry = harness.entry
        client = harness.client
        response = await client.post(
            "/auth/oidc/redirect",
            data={**authorize_query(), "entry_id": entry.entry_id},
            allow_redirects=False,
        )
        page = await response.text()
        assert response.status == 503, page
        assert "network.allow_insecure_http" in page
        assert f"token_endpoint {token_endpoint}" in page


async def test_confirmed_http_is_not_stored_when_not_needed(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    provider.discovery_override = {"token_endpoint": "http://idp.lan/token"}
    result = await start(hass)
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, {"base_url": provider.issuer})
    provider.discovery_override = {}
    result = await configure(
        hass, flow_id, {"base_url": provider.issuer, "allow_insecure_http": True}
    )
    result = await configure(hass, flow_id, {"client_id": "ha", "display_name": "SSO"})
    result = await configure(hass, flow_id, ROLES)
    result = await configure(hass, flow_id, LINKING)
    assert result["data"]["network"]["allow_insecure_http"] is False


async def test_no_s256_needs_confirmation_and_a_client_secret(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    # A provider that offers only "plain" PKCE.
    provider.discovery_override = {"code_challenge_methods_supported": ["plain"]}
    result = await start(hass)
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, {"base_url": provider.issuer})
    assert result["errors"] == {"base": "discovery_no_s256"}
    assert fields(result) == ["base_url", "continue_without_pkce"]
    result = await configure(
        hass, flow_id, {"base_url": provider.issuer, "continue_without_pkce": True}
    )
    assert result["step_id"] == "client"
    assert result["description_placeholders"]["pkce"] == UNUSABLE
    result = await configure(hass, flow_id, {"client_id": "ha-client", "display_name": "SSO"})
    assert result["errors"] == {"client_secret": "secret_required_without_pkce"}
    result = await configure(
        hass, flow_id, {"client_id": "ha-client", "client_secret": SECRET, "display_name": "SSO"}
    )
    result = await configure(hass, flow_id, ROLES)
    result = await configure(hass, flow_id, LINKING)
    assert result["data"]["provider"] == {"use_pkce": False}
    assert result["data"]["client_secret"] == SECRET


async def test_unlisted_pkce_methods_get_s256_like_yaml(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    # Like Microsoft Entra ID: S256 works but code_challenge_methods_supported is absent.
    provider.discovery_remove = {"code_challenge_methods_supported"}
    assert await async_setup_component(hass, "frontend", {})
    result = await start(hass, "other")
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, {"discovery_url": provider.issuer})
    assert result["step_id"] == "client", result.get("errors")
    assert result["description_placeholders"]["pkce"] == NOT_FOUND
    # A public client is accepted: PKCE protects it.
    client_form = {"client_id": provider.client_id, "display_name": "SSO"}
    result = await configure(hass, flow_id, client_form)
    result = await configure(hass, flow_id, ROLES)
    result = await configure(hass, flow_id, LINKING)
    assert result["data"]["provider"] == {"use_pkce": True}
    await hass.async_block_till_done()
    # The entry sends S256, exactly like the same provider configured in YAML.
    harness = Harness(hass=hass, client=await hass_client_no_auth(), provider=provider)
    await harness.login_ok()
    assert provider.authorization_requests[-1]["code_challenge_method"] == "S256"
    assert "code_verifier" in provider.token_requests[-1]["form"]


async def test_an_empty_pkce_method_list_needs_confirmation(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    # A list that is present names every method the provider has: none of them is S256.
    provider.discovery_override = {"code_challenge_methods_supported": []}
    result = await start(hass)
    result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["errors"] == {"base": "discovery_no_s256"}


async def test_client_step_errors_are_recoverable(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    provider.token_endpoint_auth_methods = ["private_key_jwt", "none"]
    provider.discovery_override = {"scopes_supported": ["openid"], "claims_supported": ["sub"]}
    result = await start(hass)
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, {"base_url": provider.issuer})
    assert result["description_placeholders"]["groups_scope_found"] == NOT_FOUND
    assert result["description_placeholders"]["groups_claim_found"] == NOT_FOUND
    client = {"client_id": "ha-client", "client_secret": SECRET, "display_name": "SSO"}
    result = await configure(hass, flow_id, client)
    assert result["errors"] == {"base": "discovery_no_auth_method"}
    result = await configure(
        hass, flow_id, {**client, "client_secret": " ", "display_name": "x" * 65}
    )
    assert result["errors"] == {"display_name": "invalid_value"}
    assert result["description_placeholders"]["error_detail"]
    assert suggested(result, "display_name") == "x" * 65
    result = await configure(hass, flow_id, {"client_id": "ha-client", "display_name": "SSO"})
    assert result["step_id"] == "roles"


async def test_roles_step_errors_are_recoverable(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    result = await start(hass)
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, {"base_url": provider.issuer})
    result = await configure(hass, flow_id, {"client_id": "ha", "display_name": "SSO"})
    result = await configure(hass, flow_id, {**ROLES, "groups_scope": "two words"})
    assert result["errors"] == {"groups_scope": "invalid_value"}
    assert suggested(result, "groups_scope") == "two words"
    result = await configure(hass, flow_id, {"roles": {}, "claims": {**CLAIMS, "groups": "roles"}})
    assert result["step_id"] == "linking"
    result = await configure(
        hass, flow_id, {"features": {**LINKING["features"], "automatic_user_linking": True}}
    )
    options = result["options"]
    # Empty admin group and scope: nobody becomes admin through SSO, no groups scope is asked.
    assert options["roles"] == {"admin": None, "user": None}
    assert options["groups_scope"] == ""
    assert options["features"]["automatic_user_linking"] is True
    settings = settings_from_config(result["data"] | options)
    assert settings.scopes == ("openid", "profile", "email")


# -- several providers, YAML coexistence --------------------------------------------------


async def test_same_issuer_twice_is_refused(hass: HomeAssistant, provider: FakeProvider) -> None:
    await create_entry(hass, {"base_url": provider.issuer})
    result = await start(hass, "other")
    result = await configure(hass, result["flow_id"], {"discovery_url": provider.discovery_url})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_yaml_and_ui_providers_coexist(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await setup_harness(hass, hass_client_no_auth, provider, frontend=True, client_secret=None)
    yaml_entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert yaml_entry.source == SOURCE_IMPORT

    # The YAML provider cannot be added again in the UI...
    result = await start(hass)
    result = await configure(hass, result["flow_id"], {"base_url": provider.issuer})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    # ...nor changed there.
    result = await hass.config_entries.options.async_init(yaml_entry.entry_id)
    assert_translated(result, "options")
    assert result["reason"] == "yaml_managed"
    result = await reconfigure(hass, yaml_entry)
    assert_translated(result)
    assert result["reason"] == "yaml_managed"

    async with serve("/realms/home") as second:
        result = await create_entry(
            hass,
            {"base_url": second.issuer.removesuffix("/realms/home"), "realm": "home"},
            preset="keycloak",
            client={"client_id": "ha", "display_name": "Keycloak"},
        )
    assert {entry.title for entry in hass.config_entries.async_entries(DOMAIN)} == {
        "Pocket ID",
        "Keycloak",
    }
    assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is not None
    assert hass.auth.get_auth_provider(DOMAIN, second.issuer) is not None


async def test_changed_yaml_updates_its_entry_and_never_a_ui_entry(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    await setup_harness(hass, hass_client_no_auth, provider, frontend=True, client_secret=None)
    yaml_entry = hass.config_entries.async_entries(DOMAIN)[0]
    changed = SETTINGS_SCHEMA(
        {"client_id": "ha", "discovery_url": provider.discovery_url, "display_name": "Renamed"}
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IMPORT}, data=changed
    )
    assert result["type"] is FlowResultType.ABORT
    await hass.async_block_till_done()
    assert yaml_entry.title == "Renamed"
    assert yaml_entry.runtime_data.settings.display_name == "Renamed"

    # A YAML block for an issuer that was set up in the UI does not take it over.
    await hass.config_entries.async_remove(yaml_entry.entry_id)
    async with FakeProvider.running() as ui_provider:
        await create_entry(hass, {"base_url": ui_provider.issuer})
        ui_entry = hass.config_entries.async_entries(DOMAIN)[0]
        yaml = SETTINGS_SCHEMA({"client_id": "yaml", "discovery_url": ui_provider.discovery_url})
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_IMPORT}, data=yaml
        )
    assert result["reason"] == "already_configured"
    assert ui_entry.data["client_id"] == "ha-client"
    # ...nor does a changed YAML block whose existing entry points elsewhere.
    yaml_entry = MockConfigEntry(
        domain=DOMAIN, source=SOURCE_IMPORT, unique_id="https://old.example", data=yaml
    )
    yaml_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IMPORT}, data=yaml
    )
    assert result["reason"] == "already_configured"
    assert yaml_entry.unique_id == "https://old.example"


async def test_yaml_with_plain_http_on_the_network_imports(hass: HomeAssistant) -> None:
    url = "http://idp.lan/.well-known/openid-configuration"
    config = {
        "client_id": "ha",
        "discovery_url": url,
        "network": {"allow_insecure_http": True},
    }
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: config})
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.unique_id == "http://idp.lan"
    assert hass.auth.get_auth_provider(DOMAIN, "http://idp.lan") is not None


# -- options, reconfigure, unload -----------------------------------------------------


async def test_options_change_roles_claims_and_features_with_a_reload(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    entry = (await create_entry(hass, {"base_url": provider.issuer}))["result"]
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert_translated(result, "options")
    assert suggested(result, "roles.admin") == "admins"
    assert suggested(result, "groups_scope") == "groups"
    assert suggested(result, "features.automatic_person_creation") is True
    # Cross-device login: local network only unless the admin chooses otherwise.
    assert suggested(result, "features.device_login") == "local"
    # Nothing is suggested for an unset group.
    assert suggested(result, "roles.user") is None
    new = {
        "roles": {"admin": "ha-admins", "user": "ha-users"},
        "groups_scope": "roles",
        "additional_scopes": 'offline "quoted"',
        "claims": {"groups": "roles", "display_name": "nickname", "username": "email"},
        "features": {
            "automatic_user_linking": True,
            "automatic_person_creation": False,
            "default_redirect": True,
            "force_https": True,
            "device_login": "anywhere",
        },
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], new)
    assert_translated(result, "options")
    assert result["errors"] == {"additional_scopes": "invalid_value"}
    assert suggested(result, "additional_scopes") == 'offline "quoted"'
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**new, "additional_scopes": "offline_access"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    assert set(entry.options) == {
        "groups_scope",
        "additional_scopes",
        "roles",
        "claims",
        "features",
    }
    settings = entry.runtime_data.settings
    assert settings == settings_from_entry(entry)
    assert settings.roles.admin == "ha-admins"
    assert settings.roles.user == "ha-users"
    assert settings.claims.groups == "roles"
    assert settings.claims.username == "email"
    assert settings.scopes == ("openid", "profile", "email", "roles", "offline_access")
    assert settings.features.automatic_user_linking is True
    assert settings.features.automatic_person_creation is False
    assert settings.features.default_redirect is True
    assert settings.features.force_https is True
    assert settings.features.device_login is DeviceLoginMode.ANYWHERE
    assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is entry.runtime_data.provider

    # The form shows the saved options next time.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(result, "roles.user") == "ha-users"
    assert suggested(result, "additional_scopes") == "offline_access"
    assert suggested(result, "features.device_login") == "anywhere"

    # An emptied field clears its setting.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**new, "roles": {"admin": "ha-admins"}, "additional_scopes": ""}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data.settings.roles.user is None
    assert entry.runtime_data.settings.additional_scopes == ()


async def test_options_offer_provider_logout_and_name_the_end_session_endpoint(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    entry = (await create_entry(hass, {"base_url": provider.issuer}))["result"]
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(result, "features.end_provider_session") is False
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["end_session_endpoint"] == provider.url("end_session")
    assert placeholders["logged_out_url"].endswith("/auth/oidc/logged-out")

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**ROLES, "features": {**LINKING["features"], "end_provider_session": True}},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data.settings.features.end_provider_session is True
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(result, "features.end_provider_session") is True


async def test_options_turn_on_the_access_recheck_with_its_interval(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    entry = (await create_entry(hass, {"base_url": provider.issuer}))["result"]
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(result, "features.recheck_access") is False
    assert suggested(result, "features.recheck_interval") == 15

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **ROLES,
            "features": {**LINKING["features"], "recheck_access": True, "recheck_interval": 5.0},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    features = entry.runtime_data.settings.features
    assert (features.recheck_access, features.recheck_interval) == (True, 5)
    assert entry.options["features"]["recheck_interval"] == 5
    assert entry.runtime_data.access_recheck is not None
    assert entry.runtime_data.access_recheck.enabled
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(result, "features.recheck_interval") == 5


async def test_options_say_when_the_provider_has_no_end_session_endpoint(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    provider.discovery_remove.add("end_session_endpoint")
    entry = (await create_entry(hass, {"base_url": provider.issuer}))["result"]
    result = await hass.config_entries.options.async_init(entry.entry_id)
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["end_session_endpoint"] == "—"


async def test_options_of_an_entry_that_is_not_loaded_offer_no_test_login(
    hass: HomeAssistant,
) -> None:
    data, options = split_config(
        SETTINGS_SCHEMA(
            {"client_id": "ha", "discovery_url": "https://id.example.com" + WELL_KNOWN_PATH}
        )
    )
    entry = MockConfigEntry(domain=DOMAIN, version=ENTRY_VERSION, data=data, options=options)
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert_translated(result, "options")
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    # No grant: the claim inspector needs the loaded provider.
    assert placeholders["inspect_url"] == "/auth/oidc/inspect"
    assert placeholders["end_session_endpoint"] == "—"
    assert suggested(result, "roles.admin") == "admins"


async def test_reconfigure_changes_client_and_reloads(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    entry = (
        await create_entry(
            hass,
            {"base_url": provider.issuer},
            client={"client_id": "ha-client", "client_secret": SECRET, "display_name": "Pocket ID"},
        )
    )["result"]
    # Options written earlier must keep working after a reconfigure.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {**ROLES, **LINKING, "roles": {"admin": "boss"}}
    )
    await hass.async_block_till_done()
    options = dict(entry.options)

    result = await reconfigure(hass, entry)
    assert_translated(result)
    assert result["step_id"] == "reconfigure"
    assert suggested(result, "discovery_url") == provider.discovery_url
    assert suggested(result, "client_id") == "ha-client"
    assert suggested(result, "client_secret") is None  # never sent back to the browser
    assert "public_client" in fields(result)
    flow_id = result["flow_id"]

    result = await configure(
        hass,
        flow_id,
        {"discovery_url": provider.issuer, "client_id": "renamed", "display_name": "ID"},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.title == "ID"
    assert entry.data["client_id"] == "renamed"
    assert entry.data["client_secret"] == SECRET  # empty field keeps the secret
    assert entry.runtime_data.settings.client_id == "renamed"
    assert entry.runtime_data.settings.roles.admin == "boss"
    # A reconfigure refreshes what the check found and leaves the options alone.
    assert entry.options == options

    result = await reconfigure(hass, entry)
    result = await configure(
        hass,
        result["flow_id"],
        {
            "discovery_url": provider.discovery_url,
            "client_id": "renamed",
            "public_client": True,
            "display_name": "ID",
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert "client_secret" not in entry.data
    assert entry.runtime_data.settings.client_secret is None


async def test_reconfigure_errors_are_recoverable(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    entry = (await create_entry(hass, {"base_url": provider.issuer}))["result"]
    result = await reconfigure(hass, entry)
    flow_id = result["flow_id"]
    assert "public_client" not in fields(result)
    form = {"discovery_url": provider.issuer, "client_id": "ha-client", "display_name": "ID"}

    result = await configure(hass, flow_id, {**form, "discovery_url": "https://x.example/?q"})
    assert result["errors"] == {"discovery_url": "invalid_url"}
    provider.discovery_override = {"code_challenge_methods_supported": ["plain"]}
    result = await configure(hass, flow_id, form)
    assert result["errors"] == {"base": "discovery_no_s256"}
    result = await configure(hass, flow_id, {**form, "continue_without_pkce": True})
    assert result["errors"] == {"client_secret": "secret_required_without_pkce"}
    provider.discovery_override = {}
    result = await configure(hass, flow_id, {**form, "display_name": "x" * 65})
    assert result["errors"] == {"display_name": "invalid_value"}
    result = await configure(hass, flow_id, form)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["provider"] == {"use_pkce": True}


# Pooled TLS connections to the provider close after the test, with a timer of their own.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_reconfigure_keeps_pkce_choice_and_ca_path(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    server_context, ca_file = self_signed_certificate(tmp_path)
    async with serve_tls(server_context) as provider:
        provider.discovery_override = {"code_challenge_methods_supported": ["plain"]}
        data, options = split_config(
            SETTINGS_SCHEMA(
                {
                    "client_id": "ha",
                    "client_secret": SECRET,
                    "discovery_url": provider.discovery_url,
                    "provider": {"use_pkce": False},
                    "network": {"tls_ca_path": str(ca_file)},
                }
            )
        )
        entry = MockConfigEntry(
            domain=DOMAIN,
            version=ENTRY_VERSION,
            title="Private",
            unique_id=provider.issuer,
            data=data,
            options=options,
        )
        entry.add_to_hass(hass)
        result = await reconfigure(hass, entry)
        assert fields(result) == [
            "discovery_url",
            "client_id",
            "client_secret",
            "public_client",
            "display_name",
            "tls_ca_path",
            "continue_without_pkce",
        ]
        assert suggested(result, "tls_ca_path") == str(ca_file)
        assert suggested(result, "continue_without_pkce") is True
        result = await configure(
            hass,
            result["flow_id"],
            {
                "discovery_url": provider.discovery_url,
                "client_id": "ha",
                "display_name": "Private",
                "tls_ca_path": str(ca_file),
                "continue_without_pkce": True,
            },
        )
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert entry.data["network"]["tls_ca_path"] == str(ca_file)
        assert entry.data["provider"] == {"use_pkce": False}


async def test_reconfigure_refuses_another_provider(
    hass: HomeAssistant, provider: FakeProvider
) -> None:
    entry = (await create_entry(hass, {"base_url": provider.issuer}))["result"]
    async with FakeProvider.running() as other:
        result = await reconfigure(hass, entry)
        result = await configure(
            hass,
            result["flow_id"],
            {"discovery_url": other.issuer, "client_id": "ha", "display_name": "Other"},
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_provider"
    assert entry.data["discovery_url"] == provider.discovery_url


async def test_unload_and_reload(hass: HomeAssistant, provider: FakeProvider) -> None:
    entry = (await create_entry(hass, {"base_url": provider.issuer}))["result"]
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is None
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is not None
    assert await hass.config_entries.async_reload(entry.entry_id)
    assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is entry.runtime_data.provider


# -- end to end: set up in the UI, then log in ----------------------------------------


async def test_provider_set_up_in_the_ui_logs_people_in(
    hass: HomeAssistant, hass_client_no_auth: Any, provider: FakeProvider
) -> None:
    assert await async_setup_component(hass, "frontend", {})
    assert await async_setup_component(hass, "person", {})
    await create_entry(
        hass,
        {"base_url": provider.issuer},
        client={"client_id": provider.client_id, "display_name": "Family SSO"},
    )
    assert hass.auth.get_auth_provider(DOMAIN, provider.issuer) is not None
    harness = Harness(hass=hass, client=await hass_client_no_auth(), provider=provider)
    response = await harness.client.get("/auth/oidc/welcome", params=authorize_query())
    assert response.status == 200
    assert "Log in with Family SSO" in await response.text()

    tokens = await harness.login_ok()
    refresh_token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert refresh_token is not None
    assert refresh_token.user.name == provider.user["name"]
    assert refresh_token.user.is_admin
