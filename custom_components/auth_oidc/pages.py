"""Render the translated login pages with the security headers every page needs."""

import json
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jinja2
import pyqrcode
from aiohttp import web
from homeassistant.core import HomeAssistant

COMPONENT_DIR = Path(__file__).parent
TEMPLATE_DIR = COMPONENT_DIR / "templates"
# The login pages' own strings: Home Assistant's translations/ files hold only what its
# frontend shows (config flow, options), and hassfest allows no other top-level keys there.
PAGE_TRANSLATION_DIR = COMPONENT_DIR / "page_translations"
STATIC_DIR = COMPONENT_DIR / "static"
STATIC_URL = "/auth/oidc/static"
FALLBACK_LANGUAGE = "en"
QR_QUIET_ZONE = 4

# Pages carry no script at all; styles come from our own static file.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# The cross-device waiting page alone loads one static script of ours (static/device.js):
# no inline script, and it may only talk to this origin (server-sent events, polling).
SCRIPT_SECURITY_HEADERS: Mapping[str, str] = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
    ),
}


def qr_svg(data: str) -> bytes:
    """Return a standalone SVG image of a QR code of `data` (served as an <img>, no script)."""
    # PyQRCode encodes; its own SVG writer costs twice the encoding, so the modules are drawn
    # here as one path of horizontal runs, with the 4-module quiet zone of ISO/IEC 18004.
    modules = pyqrcode.create(data, error="M").code
    size = len(modules) + 2 * QR_QUIET_ZONE
    runs: list[str] = []
    for y, row in enumerate(modules, QR_QUIET_ZONE):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                runs.append(f"M{start + QR_QUIET_ZONE} {y}h{x - start}v1h-{x - start}z")
            x += 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    ).encode("ascii")


def _flatten(strings: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested translation strings into dotted keys."""
    flat: dict[str, str] = {}
    for key, value in strings.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def _load_page_strings() -> dict[str, dict[str, str]]:
    """Read the login-page strings of every shipped language (blocking I/O)."""
    languages: dict[str, dict[str, str]] = {}
    for path in sorted(PAGE_TRANSLATION_DIR.glob("*.json")):
        languages[path.stem] = _flatten(json.loads(path.read_text(encoding="utf-8")))
    return languages


def choose_language(accept_language: str, available: set[str], default: str) -> str:
    """Pick the best shipped language for an Accept-Language header (RFC 9110 §12.5.4)."""
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")[:20]):
        tag, _, parameters = item.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        if tag:
            weighted.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(weighted):
        if negative_quality >= 0:
            break
        for candidate in (tag, tag.split("-")[0]):
            if candidate in available:
                return candidate
    return default if default in available else FALLBACK_LANGUAGE


class Translator:
    """Look up page strings in one language, falling back to English."""

    def __init__(
        self, language: str, strings: Mapping[str, str], fallback: Mapping[str, str]
    ) -> None:
        """Hold the strings of `language` and the English fallback."""
        self.language = language
        self._strings = strings
        self._fallback = fallback

    def __call__(self, key: str, **placeholders: str) -> str:
        """Return the translated text for `key` with placeholders filled in."""
        text = self._strings.get(key) or self._fallback.get(key) or key
        for name, value in placeholders.items():
            text = text.replace("{" + name + "}", value)
        return text

    def has(self, key: str) -> bool:
        """Tell whether `key` has a translation."""
        return key in self._strings or key in self._fallback


class PageRenderer:
    """Templates and strings, loaded once in the executor."""

    def __init__(self, environment: jinja2.Environment, strings: dict[str, dict[str, str]]) -> None:
        """Hold a loaded template environment and all page strings."""
        self._environment = environment
        self._strings = strings

    @classmethod
    async def async_load(cls, hass: HomeAssistant) -> PageRenderer:
        """Load templates and translations without blocking the event loop."""

        def load() -> PageRenderer:
            environment = jinja2.Environment(
                loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                # Loaded once below: no stat() of the template files in the event loop per page.
                auto_reload=False,
            )
            for name in environment.list_templates(extensions=["html"]):
                environment.get_template(name)
            return cls(environment, _load_page_strings())

        return await hass.async_add_executor_job(load)

    def translator(self, hass: HomeAssistant, request: web.Request) -> Translator:
        """Return a translator for the language the browser prefers."""
        language = choose_language(
            request.headers.get("Accept-Language", ""), set(self._strings), hass.config.language
        )
        return Translator(
            language, self._strings.get(language, {}), self._strings.get(FALLBACK_LANGUAGE, {})
        )

    def language_translator(self, language: str) -> Translator:
        """Return a translator for one language (e.g. Home Assistant's), English as fallback."""
        language = language if language in self._strings else FALLBACK_LANGUAGE
        return Translator(
            language, self._strings.get(language, {}), self._strings.get(FALLBACK_LANGUAGE, {})
        )

    def render(
        self,
        hass: HomeAssistant,
        request: web.Request,
        template: str,
        *,
        status: HTTPStatus = HTTPStatus.OK,
        allow_script: bool = False,
        **context: Any,
    ) -> web.Response:
        """Render `template` as a complete HTML response with security headers."""
        translate = self.translator(hass, request)
        body = self._environment.get_template(template).render(
            t=translate, lang=translate.language, static_url=STATIC_URL, **context
        )
        return web.Response(
            text=body,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=SCRIPT_SECURITY_HEADERS if allow_script else SECURITY_HEADERS,
        )
