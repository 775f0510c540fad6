"""Keep the test suite's own layout, read from its syntax tree.

- No test module imports another test module: what several modules share is a fixture in a
  conftest.py or a helper in a support module (fake_provider.py, login_driver.py, ...).
- Fixtures are defined in conftest.py files and test modules only, never in support modules
  (a fixture imported from a module only works by accident of the importing module's names).
- Each fixture is defined in one place; the overrides below are the only exceptions.
"""

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent
PYTHON_FILES = sorted(TESTS.rglob("*.py"))

# (fixture, file defining another one of that name): why that file overrides it.
OVERRIDES = {
    ("provider", "tests/e2e/conftest.py"): (
        "end-to-end tests use the real provider process, not the in-process FakeProvider"
    ),
}


def is_test_module(path: Path) -> bool:
    """Tell whether pytest collects tests from this file."""
    return path.name.startswith("test_") and path.suffix == ".py"


def imported_modules(source: str, path: Path) -> set[str]:
    """Return the dotted names of the modules a file imports (relative ones resolved)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            modules.add(base)
            # `from tests import test_views` imports a module, not a name.
            modules.update(f"{base}.{alias.name}" for alias in node.names)
    return modules


def imported_test_modules(source: str, path: Path) -> set[str]:
    """Return the test modules of this suite that a file imports."""
    return {
        module
        for module in imported_modules(source, path)
        if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")
    }


def fixture_names(source: str) -> list[str]:
    """Return the names of the functions a file defines as pytest fixtures."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target) in ("pytest.fixture", "fixture"):
                    names.append(node.name)
    return names


def relative(path: Path) -> str:
    """Return a file's path from the repository root."""
    return path.relative_to(REPO).as_posix()


def test_no_test_module_imports_another() -> None:
    found = {
        relative(path): sorted(imported)
        for path in PYTHON_FILES
        if is_test_module(path)
        and (imported := imported_test_modules(path.read_text(encoding="utf-8"), path))
    }
    assert found == {}


def test_fixtures_live_in_conftest_files_or_test_modules() -> None:
    found = {
        relative(path): names
        for path in PYTHON_FILES
        if path.name != "conftest.py" and not is_test_module(path)
        if (names := fixture_names(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_each_fixture_is_defined_once() -> None:
    places: dict[str, list[str]] = defaultdict(list)
    for path in PYTHON_FILES:
        for name in fixture_names(path.read_text(encoding="utf-8")):
            places[name].append(relative(path))
    repeated = {
        name: [place for place in where if (name, place) not in OVERRIDES]
        for name, where in places.items()
    }
    assert {name: where for name, where in repeated.items() if len(where) > 1} == {}
    # Every listed override still overrides something.
    assert all(len(places[name]) > 1 for name, _ in OVERRIDES)


def test_the_checks_see_what_they_forbid() -> None:
    path = TESTS / "test_example.py"
    assert imported_test_modules("from tests.test_views import login", path) == {"tests.test_views"}
    assert imported_test_modules("from .test_views import login", path) == {"tests.test_views"}
    assert imported_test_modules("from tests import test_views", path) == {"tests.test_views"}
    assert imported_test_modules("import tests.oidc.test_jwks", path) == {"tests.oidc.test_jwks"}
    assert imported_test_modules("from tests.fake_provider import FakeProvider", path) == set()
    assert imported_test_modules("from . import ha_pages", TESTS / "e2e" / "test_x.py") == set()
    source = (
        "import pytest\n"
        "@pytest.fixture\ndef one(): ...\n"
        "@pytest.fixture(autouse=True)\nasync def two(): ...\n"
        "def helper(): ...\n"
    )
    assert fixture_names(source) == ["one", "two"]
