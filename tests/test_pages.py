"""Tests for page rendering: languages, translations and every error reason."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from custom_components.auth_oidc.browser_views import DEVICE_REFUSAL_STATUS, DeviceRefusal
from custom_components.auth_oidc.login_page import LoginPageReason
from custom_components.auth_oidc.pages import choose_language

PACKAGE = Path(__file__).parents[1] / "custom_components" / "auth_oidc"


def strings() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PACKAGE / "strings.json").read_text(encoding="utf-8"))
    return loaded


def page_strings(language: str = "en") -> dict[str, Any]:
    path = PACKAGE / "page_translations" / f"{language}.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


def test_every_page_language_has_every_string_with_the_same_placeholders() -> None:
    english = flatten(page_strings())
    languages = sorted(path.stem for path in (PACKAGE / "page_translations").glob("*.json"))
    assert languages == sorted(path.stem for path in (PACKAGE / "translations").glob("*.json"))
    for language in languages:
        translated = flatten(page_strings(language))
        assert translated.keys() == english.keys(), language
        for key, text in english.items():
            assert translated[key].strip(), (language, key)
            assert set(re.findall(r"\{\w+\}", translated[key])) == set(
                re.findall(r"\{\w+\}", text)
            ), (language, key)


def test_english_translation_matches_strings_json() -> None:
    english = json.loads((PACKAGE / "translations" / "en.json").read_text(encoding="utf-8"))
    assert english == strings()


def test_every_login_page_reason_is_translated_and_every_translation_is_a_reason() -> None:
    assert {reason.value for reason in LoginPageReason} == set(page_strings()["errors"])


def test_templates_use_only_existing_keys() -> None:
    page_keys = set(page_strings())
    for template in (PACKAGE / "templates").glob("*.html"):
        used = set(re.findall(r"""t\(["']([a-z_]+)["']""", template.read_text(encoding="utf-8")))
        assert used <= page_keys, template.name


def test_templates_use_only_existing_nested_keys() -> None:
    flat: set[str] = set()
    for key, value in page_strings().items():
        flat |= {f"{key}.{sub}" for sub in value} if isinstance(value, dict) else {key}
    for template in (PACKAGE / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        used = set(re.findall(r"""t\(["']([a-z_]+\.[a-z_]+)["']""", text))
        assert used <= flat, template.name
    # Keys built from a prefix at run time: every value they can take is translated.
    assert {
        f"device_kinds.{kind}" for kind in ("ios_app", "mac_app", "android_app", "browser")
    } <= flat
    assert {
        f"device_errors.{outcome}"
        for outcome in ("code_malformed", "code_invalid", "code_used", "blocked")
    } <= flat
    assert {f"device_unavailable.{refusal}" for refusal in DeviceRefusal} <= flat
    assert set(DEVICE_REFUSAL_STATUS) == set(DeviceRefusal)


@pytest.mark.parametrize(
    ("header", "available", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", {"en", "de"}, "de"),
        ("fr-CH, fr;q=0.9, en;q=0.8", {"en", "de"}, "en"),
        ("nl;q=0.2, de;q=0.9", {"en", "de", "nl"}, "de"),
        ("", {"en", "de"}, "de"),  # nothing asked: Home Assistant's language
        ("xx;q=abc, *", {"en"}, "en"),
        ("de;q=0", {"en", "de"}, "de"),  # q=0 means "not acceptable": falls back to the default
    ],
)
def test_choose_language(header: str, available: set[str], expected: str) -> None:
    assert choose_language(header, available, "de" if "de" in available else "en") == expected
