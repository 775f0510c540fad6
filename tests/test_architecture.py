"""Keep the layering, read from the source's syntax tree (imports and attribute access).

- The OpenID Connect core and the pure modules never import Home Assistant.
- Home Assistant modules that its developer documentation does not offer to integrations
  (undocumented internals) are imported by hass_auth.py only, where tests/test_hass_auth.py
  pins each use; the few other exceptions are listed below with their reason.
- Only hass_auth.py reaches into private attributes of Home Assistant's objects.
- No module imports a `_private` name of another module of ours.
- The config flow imports only constants, settings, presets, the TLS helper and the core.
"""

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "custom_components" / "auth_oidc"
MODULES = sorted(PACKAGE.rglob("*.py"))
PURE_MODULES = [
    *sorted((PACKAGE / "oidc").glob("*.py")),
    PACKAGE / "settings.py",
    PACKAGE / "identity.py",
    PACKAGE / "login_clients.py",
    PACKAGE / "login_state.py",
    PACKAGE / "device_login.py",
    PACKAGE / "presets.py",
]
INTERNALS_MODULE = PACKAGE / "hass_auth.py"

# Documented for integrations at developers.home-assistant.io: these modules and their submodules.
DOCUMENTED_PACKAGES = (
    "homeassistant.config_entries",
    "homeassistant.const",
    "homeassistant.core",
    "homeassistant.data_entry_flow",
    "homeassistant.exceptions",
    "homeassistant.helpers",
    "homeassistant.util",
)
# Documented modules without their submodules: the auth-provider API (docs/auth_auth_provider),
# and the platforms an integration provides (core/integration_diagnostics, core/platform/repairs,
# core/integration_system_health; the integration loader for its own manifest's version).
DOCUMENTED_MODULES = (
    "homeassistant.auth.const",
    "homeassistant.auth.models",
    "homeassistant.auth.providers",
    "homeassistant.components.diagnostics",
    "homeassistant.components.repairs",
    "homeassistant.components.system_health",
    "homeassistant.loader",
)
# Undocumented imports outside hass_auth.py: (module of ours, Home Assistant module, name).
ALLOWED_ELSEWHERE = {
    ("__init__.py", "homeassistant.auth", "EVENT_USER_ADDED"): (
        "the name of the documented user_added event"
    ),
    ("__init__.py", "homeassistant.components.http.server", "StaticPathConfig"): (
        "documented as homeassistant.components.http.StaticPathConfig, which mypy cannot see "
        "re-exported; imported from the module that defines it"
    ),
    ("device_views.py", "homeassistant.components", "persistent_notification"): (
        "the persistent_notification integration's async_create, how integrations notify admins"
    ),
    ("person.py", "homeassistant.components.person", "async_create_person"): (
        "the person integration's helper, the one way to link a person to a user"
    ),
    ("logbook.py", "homeassistant.components.logbook.const", "LOGBOOK_ENTRY_MESSAGE"): (
        "a key of the description a logbook platform returns, as core integrations import it"
    ),
    ("logbook.py", "homeassistant.components.logbook.const", "LOGBOOK_ENTRY_NAME"): (
        "a key of the description a logbook platform returns, as core integrations import it"
    ),
}
# Methods of named tuples: public, though spelled with an underscore.
NAMED_TUPLE_API = {"_replace", "_asdict", "_fields", "_make"}


@dataclass(frozen=True)
class Import:
    """One imported name: the module it comes from and the name (None: the module itself)."""

    module: str
    name: str | None
    level: int
    line: int


def imports_of(path: Path) -> list[Import]:
    """Return every import in `path`, also those inside functions."""
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, None, 0, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.extend(
                Import(node.module or "", alias.name, node.level, node.lineno)
                for alias in node.names
            )
    return found


def imported_modules(path: Path) -> set[str]:
    """Return every module name that `path` imports (relative ones with their dots)."""
    return {"." * item.level + item.module for item in imports_of(path)}


def home_assistant_target(item: Import) -> str:
    """Return the Home Assistant module an import reaches (`from a import b`: a.b if a module)."""
    if item.name not in (None, "*") and _is_package(item.module):
        candidate = f"{item.module}.{item.name}"
        if importlib.util.find_spec(candidate) is not None:
            return candidate
    return item.module


def _is_package(module: str) -> bool:
    """Tell whether `module` is a package (only packages have submodules)."""
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def is_documented(module: str) -> bool:
    """Tell whether a Home Assistant module is offered to integrations by its documentation."""
    return module in DOCUMENTED_MODULES or any(
        module == package or module.startswith(package + ".") for package in DOCUMENTED_PACKAGES
    )


def undocumented_imports(path: Path) -> list[tuple[str, str, str | None]]:
    """Return (Home Assistant module, name, line) of every undocumented import in `path`."""
    found = []
    for item in imports_of(path):
        if item.level or item.module.split(".")[0] != "homeassistant":
            continue
        if not is_documented(home_assistant_target(item)):
            found.append((home_assistant_target(item), item.module, item.name))
    return found


def relative_name(path: Path) -> str:
    """Return the path inside the package, as used in ALLOWED_ELSEWHERE."""
    return path.relative_to(PACKAGE).as_posix()


@pytest.mark.parametrize("path", PURE_MODULES, ids=relative_name)
def test_pure_module_does_not_import_home_assistant(path: Path) -> None:
    imports = imported_modules(path)
    assert not {name for name in imports if name.split(".")[0] == "homeassistant"}
    # Relative imports must stay inside the pure layer.
    allowed_relative = {
        ".",
        ".oidc",
        ".settings",
        ".identity",
        ".login_clients",
        ".login_state",
        ".device_login",
    }
    if path.parent.name == "oidc":
        allowed_relative = {
            name for name in imports if name.startswith(".") and not name.startswith("..")
        }
    assert {name for name in imports if name.startswith(".")} <= allowed_relative


@pytest.mark.parametrize("path", MODULES, ids=relative_name)
def test_undocumented_home_assistant_internals_only_in_hass_auth(path: Path) -> None:
    if path == INTERNALS_MODULE:
        return
    offenders = [
        f"{module} ({source}.{name})"
        for module, source, name in undocumented_imports(path)
        if (relative_name(path), source, name) not in ALLOWED_ELSEWHERE
    ]
    assert offenders == [], "move these behind hass_auth.py, with a test in test_hass_auth.py"


def test_every_allowed_exception_is_still_used() -> None:
    used = {
        (relative_name(path), source, name)
        for path in MODULES
        for _, source, name in undocumented_imports(path)
    }
    assert set(ALLOWED_ELSEWHERE) <= used


def test_hass_auth_is_where_the_internals_are() -> None:
    internals = {module for module, _, _ in undocumented_imports(INTERNALS_MODULE)}
    assert {
        "homeassistant.components.auth",
        "homeassistant.components.auth.indieauth",
        "homeassistant.components.http.ban",
        "homeassistant.components.http.auth_util",
        "homeassistant.auth.providers.trusted_networks",
        "homeassistant.components.onboarding",
    } <= internals


def test_config_flow_imports_only_constants_settings_presets_tls_and_the_core() -> None:
    ours = {
        item.module.split(".")[0] or item.name or ""
        for item in imports_of(PACKAGE / "config_flow.py")
        if item.level
    }
    assert ours == {"const", "oidc", "presets", "settings", "tls"}


@pytest.mark.parametrize("path", MODULES, ids=relative_name)
def test_only_hass_auth_touches_private_attributes(path: Path) -> None:
    if path == INTERNALS_MODULE:
        return
    offenders = [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and node.attr not in NAMED_TUPLE_API
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]
    assert offenders == []


def private_imports(path: Path) -> list[str]:
    """Return every `_private` name that `path` imports from another module of ours."""
    return [
        f"line {item.line}: {'.' * item.level}{item.module}.{item.name}"
        for item in imports_of(path)
        if (item.level or item.module.startswith("custom_components."))
        and item.name
        and item.name.startswith("_")
        and not item.name.startswith("__")
    ]


@pytest.mark.parametrize("path", MODULES, ids=relative_name)
def test_no_private_names_of_another_module_are_imported(path: Path) -> None:
    assert private_imports(path) == [], "make the name public or move it where it is used"


def test_private_imports_are_found(tmp_path: Path) -> None:
    module = tmp_path / "device_views.py"
    module.write_text(
        "from .login_page import error_page\n"
        "def later():\n"
        "    from .hand_off import _hand_off\n"
        "from custom_components.auth_oidc.login_page import _origin\n",
        encoding="utf-8",
    )
    assert sorted(private_imports(module)) == [
        "line 3: .hand_off._hand_off",
        "line 4: custom_components.auth_oidc.login_page._origin",
    ]


def test_the_walk_sees_imports() -> None:
    assert "homeassistant.core" in imported_modules(INTERNALS_MODULE)
    assert ".login_page" in imported_modules(PACKAGE / "device_views.py")
    # An import inside a function counts too.
    assert any(
        module == "homeassistant.components.person"
        for module, _, _ in undocumented_imports(PACKAGE / "person.py")
    )
