"""Keep the layering: the OpenID Connect core and the pure modules never import Home Assistant."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "custom_components" / "auth_oidc"
PURE_MODULES = [
    *sorted((PACKAGE / "oidc").glob("*.py")),
    PACKAGE / "settings.py",
    PACKAGE / "identity.py",
    PACKAGE / "login_state.py",
    PACKAGE / "device_login.py",
    PACKAGE / "presets.py",
]


def imported_modules(path: Path) -> set[str]:
    """Return every module name that `path` imports (absolute or relative)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize(
    "path", PURE_MODULES, ids=lambda path: path.relative_to(PACKAGE).as_posix()
)
def test_pure_module_does_not_import_home_assistant(path: Path) -> None:
    imports = imported_modules(path)
    assert not {name for name in imports if name.split(".")[0] == "homeassistant"}
    # Relative imports must stay inside the pure layer.
    allowed_relative = {".", ".oidc", ".settings", ".identity", ".login_state", ".device_login"}
    if path.parent.name == "oidc":
        allowed_relative = {
            name for name in imports if name.startswith(".") and not name.startswith("..")
        }
    assert {name for name in imports if name.startswith(".")} <= allowed_relative


def test_only_hass_auth_touches_private_auth_internals() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "hass_auth.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "auth._providers" in text or "auth._store" in text or "route._handler" in text:
            offenders.append(path.name)
    assert offenders == []


def test_the_walk_sees_imports() -> None:
    assert "homeassistant.core" in imported_modules(PACKAGE / "hass_auth.py")
