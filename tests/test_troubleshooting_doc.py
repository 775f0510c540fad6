"""docs/troubleshooting.md explains every error a user can see.

The config flow's errors and aborts and the repairs come from strings.json, the login pages'
errors from page_translations/en.json. Each key needs an entry of its own in the troubleshooting
page, a list item that starts with the key in backticks and a dash: "- `key` — ...".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
INTEGRATION = REPO_ROOT / "custom_components" / "auth_oidc"
TROUBLESHOOTING = REPO_ROOT / "docs" / "troubleshooting.md"


def config_flow_keys() -> list[str]:
    """Return the error and abort keys of the config and options flows."""
    strings = json.loads((INTEGRATION / "strings.json").read_text(encoding="utf-8"))
    return sorted(
        {
            key
            for flow in ("config", "options")
            for section in ("error", "abort")
            for key in strings.get(flow, {}).get(section, {})
        }
    )


def repair_keys() -> list[str]:
    """Return the keys of the repairs (issues) the integration raises."""
    strings = json.loads((INTEGRATION / "strings.json").read_text(encoding="utf-8"))
    return sorted(strings.get("issues", {}))


def login_page_keys() -> list[str]:
    """Return the error keys of the login pages (browser and cross-device login)."""
    pages = json.loads((INTEGRATION / "page_translations" / "en.json").read_text(encoding="utf-8"))
    return sorted({*pages["errors"], *pages["device_errors"]})


def documented_entry(key: str) -> str:
    """Return how a key's entry starts in the troubleshooting page."""
    return f"- `{key}` — "


def test_the_key_lists_are_read() -> None:
    """Both sources give keys (a renamed section must not make the tests below vacuous)."""
    assert "discovery_unreachable" in config_flow_keys()
    assert "already_configured" in config_flow_keys()
    assert "verification_failed" in login_page_keys()
    assert "code_invalid" in login_page_keys()
    assert "provider_unreachable" in repair_keys()


@pytest.mark.parametrize("key", config_flow_keys())
def test_every_config_flow_message_is_explained(key: str) -> None:
    """Each config/options flow error and abort has an entry."""
    assert documented_entry(key) in TROUBLESHOOTING.read_text(encoding="utf-8"), (
        f"docs/troubleshooting.md has no entry '{documented_entry(key)}…' for strings.json's {key}"
    )


@pytest.mark.parametrize("key", login_page_keys())
def test_every_login_page_error_is_explained(key: str) -> None:
    """Each login-page error has an entry."""
    assert documented_entry(key) in TROUBLESHOOTING.read_text(encoding="utf-8"), (
        f"docs/troubleshooting.md has no entry '{documented_entry(key)}…' for the page error {key}"
    )


@pytest.mark.parametrize("key", repair_keys())
def test_every_repair_is_explained(key: str) -> None:
    """Each repair shown under Settings → Repairs has an entry."""
    assert documented_entry(key) in TROUBLESHOOTING.read_text(encoding="utf-8"), (
        f"docs/troubleshooting.md has no entry '{documented_entry(key)}…' for the repair {key}"
    )
