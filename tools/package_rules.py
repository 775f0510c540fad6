"""Check the repository against the hassfest and HACS rules that apply to this integration.

Home Assistant's validator (hassfest, run by the `home-assistant/actions/hassfest` action)
and HACS's validator (the `hacs/action` action) run on GitHub. This module applies the rules
of theirs that concern a custom integration, written from their published behaviour, so that
`scripts/test` catches a violation before a push:

* manifest: the custom-integration manifest schema, domain = folder name, an IoT class, a
  semantic version, keys ordered "domain, name, then alphabetical", pinned requirements
  without spaces.
* translations: strings.json and translations/*.json against the translation schema (allowed
  top-level keys, flow steps, selectors, exceptions, issues), every string free of HTML, URLs,
  single-quoted or invalid placeholders, combined references and surrounding spaces;
  data_description keys that exist in data; selector keys that are valid translation keys.
* config_flow: `config_flow: true` needs config_flow.py with a ConfigFlow subclass; no step
  may take the name of a discovery source the manifest does not declare (a step named
  "discovery" collides with Home Assistant's discovery source); discoverable flows set a
  unique ID.
* dependencies: every `homeassistant.components.X` import is a declared (after-)dependency or
  an integration that is always loaded; every dependency exists and is listed only once.
* config_schema: an integration with `async_setup`/`setup` defines or imports CONFIG_SCHEMA.
* json: every JSON file of the integration parses.
* HACS: hacs.json schema (zip_release needs filename), one integration under
  custom_components, the manifest keys HACS needs, an information file (README), a license
  file, and brand images in the integration's brand/ folder in the names and sizes Home
  Assistant serves.

`python -m tools.package_rules` prints the problems of this repository and exits 1 if any.
"""

from __future__ import annotations

import ast
import json
import re
import string
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import homeassistant.components
import probatio as vol
from homeassistant.components.brands.const import ALLOWED_IMAGES
from homeassistant.config_entries import DISCOVERY_SOURCES, SOURCE_IMPORT
from homeassistant.const import Platform
from PIL import Image, UnidentifiedImageError

REPOSITORY: Final = Path(__file__).resolve().parents[1]
# Home Assistant's built-in integrations, one folder each.
HA_COMPONENTS: Final = Path(homeassistant.components.__file__).parent

# ---------------------------------------------------------------------------------------------
# Strings

# Scheme-qualified or www. addresses; a URL belongs in a description placeholder.
_URL: Final = re.compile(
    r"(?:\b(?:https?|ftps?|scp|mqtts?|socks5|socket)://|\bwww\.)"
    r"[a-z0-9]+(?:[-.][a-z0-9]+)*\.[a-z]{2,}",
    re.IGNORECASE,
)
_HTML_TAG: Final = re.compile(r"<[a-z][^>]*>", re.IGNORECASE)
_QUOTED_PLACEHOLDER: Final = re.compile(r"'\{\w+\}'")
_REFERENCE: Final = re.compile(r"\[%key:[^%\]]+%\]")
_TRANSLATION_KEY: Final = re.compile(r"^(?![-_])(?!.*[-_]{2})[a-z0-9_-]+(?<![-_])$")
_SLUG: Final = re.compile(r"^[a-z0-9_]+$")


def _text(value: Any) -> str:
    """Accept a user-visible string that Home Assistant's frontend can show as written."""
    if not isinstance(value, str):
        raise vol.Invalid("expected a string")
    if _HTML_TAG.search(value):
        raise vol.Invalid("the string should not contain HTML")
    if _QUOTED_PLACEHOLDER.search(value):
        raise vol.Invalid("the string should not contain placeholders inside single quotes")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(value) if name]
    except ValueError as err:
        raise vol.Invalid(f"unbalanced braces: {err}") from err
    if bad := [name for name in fields if not name.isidentifier()]:
        raise vol.Invalid(f"placeholders must be identifiers, not {bad}")
    if "[%key:" in value and not _REFERENCE.fullmatch(value):
        raise vol.Invalid("a reference [%key:...%] must be the whole string")
    if value != value.strip():
        raise vol.Invalid("the string should not have leading or trailing spaces")
    if _URL.search(value):
        raise vol.Invalid("the string should not contain URLs; use a description placeholder")
    return value


def _key_matching(pattern: re.Pattern[str], what: str) -> Callable[[Any], str]:
    """Return a validator for dictionary keys that must match `pattern`."""

    def validate(value: Any) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise vol.Invalid(f"invalid {what} {value!r}")
        return value

    return validate


_translation_key = _key_matching(_TRANSLATION_KEY, "translation key")
_slug = _key_matching(_SLUG, "slug")


def _data_descriptions_have_data(flow: dict[str, Any]) -> dict[str, Any]:
    """Refuse a data_description for a field that has no label in data."""
    for step_id, step in flow.get("step", {}).items():
        for key in step.get("data_description", {}):
            if key not in step.get("data", {}):
                raise vol.Invalid(f"step {step_id}: data_description key {key} is not in data")
    return flow


def _flow_schema() -> vol.All[Any]:
    """Return the schema of a config, options or repair flow's strings."""
    texts = {str: _text}
    step = {
        vol.Optional("title"): _text,
        vol.Optional("description"): _text,
        vol.Optional("data"): texts,
        vol.Optional("data_description"): texts,
        vol.Optional("menu_options"): texts,
        vol.Optional("menu_option_descriptions"): texts,
        vol.Optional("submit"): _text,
        vol.Optional("sections"): {
            str: {
                vol.Optional("name"): _text,
                vol.Optional("description"): _text,
                vol.Optional("data"): texts,
                vol.Optional("data_description"): texts,
            }
        },
    }
    return vol.All(
        vol.Schema(
            {
                vol.Optional("flow_title"): _text,
                vol.Required("step"): {str: step},
                vol.Optional("error"): texts,
                vol.Optional("abort"): texts,
                vol.Optional("progress"): texts,
                vol.Optional("create_entry"): texts,
                vol.Optional("initiate_flow"): {vol.Required("user"): _text},
            }
        ),
        _data_descriptions_have_data,
    )


_TRANSLATED_KEYS: Final = {_translation_key: _text}
STRINGS_SCHEMA: Final = vol.Schema(
    {
        vol.Optional("title"): _text,
        vol.Optional("config"): _flow_schema(),
        vol.Optional("options"): _flow_schema(),
        vol.Optional("selector"): {
            _slug: {
                vol.Optional("options"): _TRANSLATED_KEYS,
                vol.Optional("choices"): _TRANSLATED_KEYS,
                vol.Optional("unit_of_measurement"): _TRANSLATED_KEYS,
                vol.Optional("fields"): dict,
            }
        },
        vol.Optional("exceptions"): {_slug: {vol.Optional("message"): _text}},
        vol.Optional("issues"): {
            str: vol.Schema(
                {
                    vol.Required("title"): _text,
                    vol.Exclusive("description", "fixable"): _text,
                    vol.Exclusive("fix_flow", "fixable"): _flow_schema(),
                }
            )
        },
        # Allowed by hassfest; this integration has none of them, so their inner shape is
        # not checked here.
        **{
            vol.Optional(key): dict
            for key in (
                "config_subentries",
                "preview_features",
                "device_automation",
                "system_health",
                "config_panel",
                "application_credentials",
                "entity_component",
                "device",
                "entity",
                "services",
                "conditions",
                "triggers",
                "conversation",
                "common",
            )
        },
    }
)


def strings_problems(strings: Any, name: str) -> list[str]:
    """Return what hassfest's translations rules find wrong in one strings file."""
    try:
        STRINGS_SCHEMA(strings)
    except vol.MultipleInvalid as err:
        return [f"translations: {name}: {_describe(error)}" for error in err.errors]
    except vol.Invalid as err:
        return [f"translations: {name}: {_describe(err)}"]
    return []


def _describe(error: vol.Invalid) -> str:
    """Return "<path>: <message>" for a schema error."""
    path = "/".join(str(part) for part in error.path) or "top level"
    return f"{path}: {error.msg}"


# ---------------------------------------------------------------------------------------------
# Manifest

_SEMVER: Final = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_PINNED_REQUIREMENT: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[\w,.-]+\])?==[^\s=]+$")
IOT_CLASSES: Final = (
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
)
INTEGRATION_TYPES: Final = ("device", "entity", "hardware", "helper", "hub", "service", "system")


def _https_url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https://[^\s/]+\.[^\s/]+(/\S*)?$", value):
        raise vol.Invalid(f"expected an https:// URL, got {value!r}")
    return value


def _semantic_version(value: Any) -> str:
    if not isinstance(value, str) or not _SEMVER.match(value):
        raise vol.Invalid(f"{value!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    return value


def _requirement(value: Any) -> str:
    if not isinstance(value, str) or " " in value:
        raise vol.Invalid(f"requirement {value!r} contains a space")
    if not _PINNED_REQUIREMENT.match(value):
        raise vol.Invalid(f"requirement {value!r} is not pinned as <package>==<version>")
    return value


MANIFEST_SCHEMA: Final = vol.Schema(
    {
        vol.Required("domain"): str,
        vol.Required("name"): str,
        vol.Optional("integration_type"): vol.In(INTEGRATION_TYPES),
        vol.Optional("config_flow"): bool,
        vol.Optional("mqtt"): [str],
        vol.Optional("zeroconf"): list,
        vol.Optional("ssdp"): list,
        vol.Optional("bluetooth"): list,
        vol.Optional("homekit"): dict,
        vol.Optional("dhcp"): list,
        vol.Optional("usb"): list,
        vol.Required("documentation"): _https_url,
        vol.Optional("issue_tracker"): _https_url,
        vol.Optional("quality_scale"): vol.In(
            ("bronze", "silver", "gold", "platinum", "internal", "legacy")
        ),
        vol.Optional("requirements"): [_requirement],
        vol.Optional("dependencies"): [str],
        vol.Optional("after_dependencies"): [str],
        vol.Required("codeowners"): [str],
        vol.Optional("loggers"): [str],
        vol.Optional("disabled"): str,
        vol.Optional("iot_class"): vol.In(IOT_CLASSES),
        vol.Optional("single_config_entry"): bool,
        vol.Required("version"): _semantic_version,
        vol.Optional("import_executor"): bool,
    }
)


def manifest_problems(manifest: Any, folder_name: str) -> list[str]:
    """Return what hassfest's manifest rules find wrong in a custom integration's manifest."""
    try:
        MANIFEST_SCHEMA(manifest)
    except vol.MultipleInvalid as err:
        return [f"manifest: {_describe(error)}" for error in err.errors]
    problems: list[str] = []
    if manifest["domain"] != folder_name:
        problems.append("manifest: domain does not match the folder name")
    if (HA_COMPONENTS / manifest["domain"]).exists():
        problems.append("manifest: domain collides with a built-in integration")
    if "iot_class" not in manifest:
        problems.append("manifest: the integration is missing an IoT class")
    keys = list(manifest)
    if keys != sorted(keys, key=lambda key: {"domain": "0", "name": "1"}.get(key, f"2{key}")):
        problems.append("manifest: keys are not ordered domain, name, then alphabetically")
    return problems


# ---------------------------------------------------------------------------------------------
# Config flow, dependencies, config schema

# Step names that are discovery sources, and the manifest key that makes each one legitimate.
_DISCOVERY_MANIFEST_KEYS: Final = {
    "bluetooth": "bluetooth",
    "dhcp": "dhcp",
    "homekit": "homekit",
    "mqtt": "mqtt",
    "ssdp": "ssdp",
    "usb": "usb",
    "zeroconf": "zeroconf",
}
RESERVED_STEPS: Final = frozenset(DISCOVERY_SOURCES - {SOURCE_IMPORT})


def _step_names(config_flow_source: str) -> set[str]:
    """Return the step names of every async_step_* method in a config flow module."""
    return {
        node.name.removeprefix("async_step_")
        for node in ast.walk(ast.parse(config_flow_source))
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("async_step_")
    }


def _defines_config_flow(tree: ast.Module) -> bool:
    """Tell whether a module defines `class X(ConfigFlow, domain=...)`."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {
            base.id if isinstance(base, ast.Name) else ast.unparse(base) for base in node.bases
        }
        has_domain = any(keyword.arg == "domain" for keyword in node.keywords)
        if has_domain and bases & {"ConfigFlow", "config_entries.ConfigFlow"}:
            return True
    return False


def config_flow_problems(
    manifest: Mapping[str, Any], config_flow_source: str | None, strings: Mapping[str, Any]
) -> list[str]:
    """Return what hassfest's config_flow rules (and the reserved step names) find wrong."""
    problems: list[str] = []
    if config_flow_source is None:
        if manifest.get("config_flow"):
            problems.append("config_flow: config_flow is true but config_flow.py is missing")
        return problems
    if not manifest.get("config_flow"):
        problems.append("config_flow: config_flow.py exists but the manifest lacks config_flow")
    if not _defines_config_flow(ast.parse(config_flow_source)):
        problems.append("config_flow: config_flow.py defines no ConfigFlow subclass with domain=")
    steps = _step_names(config_flow_source) | set(strings.get("config", {}).get("step", {}))
    for step in sorted(steps & RESERVED_STEPS):
        manifest_key = _DISCOVERY_MANIFEST_KEYS.get(step)
        if manifest_key is None or manifest_key not in manifest:
            problems.append(
                f"config_flow: step {step!r} takes the name of a Home Assistant discovery "
                "source that the manifest does not declare; rename it"
            )
    discoverable = steps & RESERVED_STEPS
    if discoverable and "self.async_set_unique_id" not in config_flow_source:
        problems.append("config_flow: a discoverable config flow must set a unique ID")
    return problems


# Integrations any integration may import without declaring them (always loaded or bases).
ALWAYS_ALLOWED: Final = frozenset(
    {platform.value for platform in Platform}
    | {
        "alert",
        "automation",
        "conversation",
        "default_config",
        "device_automation",
        "frontend",
        "group",
        "homeassistant",
        "input_boolean",
        "input_button",
        "input_datetime",
        "input_number",
        "input_select",
        "input_text",
        "media_source",
        "onboarding",
        "panel_custom",
        "persistent_notification",
        "person",
        "script",
        "shopping_list",
        "sun",
        "system_health",
        "system_log",
        "timer",
        "webhook",
        "websocket_api",
        "zone",
    }
)


def _referenced_integrations(source: str) -> set[str]:
    """Return the Home Assistant integrations a module imports (outside TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and ast.unparse(node.test) in {
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        }:
            return
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[:2] == ["homeassistant", "components"]:
                if len(parts) > 2:
                    found.add(parts[2])
                else:
                    found.update(alias.name for alias in node.names)
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[:2] == ["homeassistant", "components"] and len(parts) > 2:
                    found.add(parts[2])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def dependency_problems(manifest: Mapping[str, Any], sources: Mapping[str, str]) -> list[str]:
    """Return what hassfest's dependencies rules find wrong; `sources` maps file → code."""
    dependencies = list(manifest.get("dependencies", []))
    after = list(manifest.get("after_dependencies", []))
    # hassfest skips a domain for which the integration has a platform file or folder of that
    # name (diagnostics.py imports homeassistant.components.diagnostics, and so on).
    platforms = {name.split("/")[0].removesuffix(".py") for name in sources}
    allowed = ALWAYS_ALLOWED | set(dependencies) | set(after) | {manifest["domain"]} | platforms
    problems = [
        f"dependencies: {name} imports {domain} but it is not in dependencies or after_dependencies"
        for name, source in sorted(sources.items())
        for domain in sorted(_referenced_integrations(source) - allowed)
    ]
    for domain in dependencies + after:
        if not (HA_COMPONENTS / domain / "manifest.json").is_file():
            problems.append(f"dependencies: {domain} is not a Home Assistant integration")
    problems.extend(
        f"dependencies: {domain} is in both dependencies and after_dependencies"
        for domain in sorted(set(dependencies) & set(after))
    )
    return problems


_SCHEMA_NAMES: Final = frozenset({"CONFIG_SCHEMA", "PLATFORM_SCHEMA", "PLATFORM_SCHEMA_BASE"})


def config_schema_problems(init_source: str) -> list[str]:
    """Return the config_schema problem: YAML setup without a CONFIG_SCHEMA."""
    tree = ast.parse(init_source)
    sets_up_from_yaml = any(
        (isinstance(node, ast.AsyncFunctionDef) and node.name == "async_setup")
        or (isinstance(node, ast.FunctionDef) and node.name == "setup")
        for node in tree.body
    )
    if not sets_up_from_yaml:
        return []
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        if any(isinstance(target, ast.Name) and target.id in _SCHEMA_NAMES for target in targets):
            return []
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (alias.asname or alias.name) in _SCHEMA_NAMES for alias in node.names
        ):
            return []
    return [
        "config_schema: async_setup/setup is defined, so CONFIG_SCHEMA must be defined "
        "(cv.config_entry_only_config_schema when there is no YAML)"
    ]


# ---------------------------------------------------------------------------------------------
# HACS

HACS_SCHEMA: Final = vol.Schema(
    {
        vol.Required("name"): str,
        vol.Optional("content_in_root"): bool,
        vol.Optional("country"): vol.Any(str, [str]),
        vol.Optional("filename"): str,
        vol.Optional("hacs"): str,
        vol.Optional("hide_default_branch"): bool,
        vol.Optional("homeassistant"): vol.Match(r"^\d{4}\.\d{1,2}\.\d+$"),
        vol.Optional("persistent_directory"): str,
        vol.Optional("render_readme"): bool,
        vol.Optional("zip_release"): bool,
    }
)
HACS_MANIFEST_KEYS: Final = ("codeowners", "documentation", "domain", "issue_tracker", "name")


def hacs_json_problems(hacs: Any) -> list[str]:
    """Return what HACS's hacs.json rules find wrong."""
    try:
        HACS_SCHEMA(hacs)
    except vol.MultipleInvalid as err:
        return [f"hacs: hacs.json: {_describe(error)}" for error in err.errors]
    if hacs.get("zip_release") and not hacs.get("filename"):
        return ["hacs: hacs.json: zip_release is true, but filename is not set"]
    return []


def hacs_manifest_problems(manifest: Mapping[str, Any]) -> list[str]:
    """Return the manifest keys HACS requires of an integration that are missing."""
    return [
        f"hacs: manifest.json has no {key}" for key in HACS_MANIFEST_KEYS if key not in manifest
    ]


# Sizes Home Assistant's brand guidelines give: square icons; logos' shortest side in a range.
_BRAND_SIZES: Final = {
    "icon.png": ((256, 256), (256, 256)),
    "icon@2x.png": ((512, 512), (512, 512)),
    "logo.png": ((128, 128), (256, 256)),
    "logo@2x.png": ((256, 256), (512, 512)),
}


def brand_problems(brand: Path) -> list[str]:
    """Return what is wrong with an integration's brand/ folder."""
    if not (brand / "icon.png").is_file():
        return ["brand: brand/icon.png is missing (HACS and Home Assistant need it)"]
    problems: list[str] = []
    for path in sorted(brand.iterdir()):
        if path.name not in ALLOWED_IMAGES:
            problems.append(f"brand: {path.name} is not an image Home Assistant serves")
            continue
        try:
            with Image.open(path) as image:
                image_format, size, mode = image.format, image.size, image.mode
        except UnidentifiedImageError:
            problems.append(f"brand: {path.name} is not an image")
            continue
        if image_format != "PNG":
            problems.append(f"brand: {path.name} is {image_format}, not PNG")
        if mode != "RGBA":
            problems.append(f"brand: {path.name} has no transparency (mode {mode})")
        smallest, largest = _BRAND_SIZES[path.name.removeprefix("dark_")]
        if path.name.removeprefix("dark_").startswith("icon"):
            if size != smallest:
                problems.append(f"brand: {path.name} is {size}, not {smallest}")
        elif not smallest[0] <= min(size) <= largest[0]:
            problems.append(
                f"brand: {path.name}'s shortest side is {min(size)}, "
                f"not between {smallest[0]} and {largest[0]}"
            )
    return problems


def hacs_repository_problems(repository: Path) -> list[str]:
    """Return what HACS's repository rules find wrong in the repository's files."""
    hacs_file = repository / "hacs.json"
    if not hacs_file.is_file():
        return ["hacs: the repository has no hacs.json"]
    problems = hacs_json_problems(json.loads(hacs_file.read_text(encoding="utf-8")))
    if not any((repository / name).is_file() for name in ("README.md", "README", "info.md")):
        problems.append("hacs: the repository has no information file (README.md)")
    # HACS asks GitHub for the license, which GitHub detects from this file.
    if not any((repository / name).is_file() for name in ("LICENSE", "LICENSE.md", "COPYING")):
        problems.append("hacs: the repository has no license file (LICENSE)")
    integrations = [
        path
        for path in sorted((repository / "custom_components").glob("*"))
        if path.is_dir() and path.name != "__pycache__"
    ]
    if len(integrations) != 1:
        names = [path.name for path in integrations]
        problems.append(f"hacs: custom_components must hold one integration, found {names}")
        return problems
    manifest_file = integrations[0] / "manifest.json"
    if not manifest_file.is_file():
        return [*problems, "hacs: the integration has no manifest.json"]
    problems += hacs_manifest_problems(json.loads(manifest_file.read_text(encoding="utf-8")))
    problems += brand_problems(integrations[0] / "brand")
    return problems


# ---------------------------------------------------------------------------------------------
# Everything


def integration_problems(integration: Path) -> list[str]:
    """Return every hassfest-rule problem of the integration folder."""
    problems: list[str] = []
    documents: dict[str, Any] = {}
    for path in sorted(integration.rglob("*.json")):
        name = str(path.relative_to(integration))
        try:
            documents[name] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            problems.append(f"json: {name} is not valid JSON: {err}")
    manifest = documents.get("manifest.json")
    if not isinstance(manifest, dict):
        return [*problems, "manifest: manifest.json is missing or invalid"]
    problems += manifest_problems(manifest, integration.name)
    translations = sorted(name for name in documents if name.startswith("translations/"))
    translation_files = ["strings.json", *translations]
    for name in translation_files:
        if name in documents:
            problems += strings_problems(documents[name], name)
    config_flow = integration / "config_flow.py"
    problems += config_flow_problems(
        manifest,
        config_flow.read_text(encoding="utf-8") if config_flow.is_file() else None,
        documents.get("strings.json") or {},
    )
    sources = {
        str(path.relative_to(integration)): path.read_text(encoding="utf-8")
        for path in sorted(integration.rglob("*.py"))
    }
    problems += dependency_problems(manifest, sources)
    problems += config_schema_problems(sources.get("__init__.py", ""))
    return problems


def repository_problems(repository: Path = REPOSITORY) -> list[str]:
    """Return every hassfest-rule and HACS-rule problem of the repository."""
    problems = hacs_repository_problems(repository)
    for integration in sorted((repository / "custom_components").glob("*/manifest.json")):
        problems += integration_problems(integration.parent)
    return problems


def _print_problems(problems: Iterable[str]) -> int:
    """Print the problems; return the exit status."""
    problems = list(problems)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(_print_problems(repository_problems()))
