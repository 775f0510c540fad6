"""The release zip holds exactly the integration's files, and the integration runs from it."""

import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from homeassistant import const as ha_const

from tools import release
from tools.release import ZIP_NAME, release_files

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "custom_components" / "auth_oidc"
BUILD_RELEASE = ROOT / "scripts" / "build-release"
MANIFEST = json.loads((PACKAGE / "manifest.json").read_text(encoding="utf-8"))
HACS = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
LANGUAGES = {"de", "en", "es", "fr", "nl"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the release with scripts/build-release, as the release workflow does."""
    output = tmp_path_factory.mktemp("dist")
    finished = subprocess.run(
        [
            ROOT / "scripts" / "build-release",
            "--output",
            output,
            "--version",
            "v" + MANIFEST["version"],
        ],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )
    assert finished.returncode == 0, finished.stderr
    archive = output / ZIP_NAME
    assert finished.stdout.strip() == str(archive)
    return archive


def test_zip_holds_exactly_the_runtime_files(built: Path) -> None:
    with zipfile.ZipFile(built) as zipped:
        names = set(zipped.namelist())
    assert names == set(release_files())
    # Everything the integration reads at run time, by kind.
    assert {"__init__.py", "manifest.json", "config_flow.py", "oidc/__init__.py"} <= names
    assert {n for n in names if n.endswith(".py")} == {
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts
    }
    for folder in ("templates", "static", "brand"):
        on_disk = {f"{folder}/{p.name}" for p in (PACKAGE / folder).iterdir()}
        assert on_disk <= names, folder
    for folder in ("translations", "page_translations"):
        assert {f"{folder}/{language}.json" for language in LANGUAGES} <= names
    # And nothing else: no byte code, tests or translation sources.
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("tests") or "/tests/" in n]
    assert "strings.json" not in names
    assert all(not n.startswith("auth_oidc/") for n in names)  # files at the root, as HACS wants


def test_two_builds_are_identical(built: Path, tmp_path: Path) -> None:
    again = release.build(tmp_path)
    assert again.read_bytes() == built.read_bytes()


def test_integration_imports_and_loads_its_pages_from_the_zip(built: Path, tmp_path: Path) -> None:
    target = tmp_path / "custom_components" / "auth_oidc"
    with zipfile.ZipFile(built) as zipped:
        zipped.extractall(target)
    (tmp_path / "custom_components" / "__init__.py").touch()
    program = """
import importlib, json, pkgutil, sys
from pathlib import Path
import jinja2
import custom_components.auth_oidc as package
root = Path(package.__file__).parent
assert root == Path.cwd() / "custom_components" / "auth_oidc", root
modules = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in modules:
    module = importlib.import_module(name)
    assert Path(module.__file__).is_relative_to(root), module.__file__
from custom_components.auth_oidc import pages
environment = jinja2.Environment(loader=jinja2.FileSystemLoader(pages.TEMPLATE_DIR))
templates = environment.list_templates(extensions=["html"])
for template in templates:
    environment.get_template(template)
strings = pages._load_page_strings()
translations = sorted(p.stem for p in (root / "translations").glob("*.json"))
for path in (root / "translations").glob("*.json"):
    json.loads(path.read_text(encoding="utf-8"))
assert sorted(p.name for p in pages.STATIC_DIR.iterdir()) == ["device.js", "login.css"]
print(json.dumps({"modules": len(modules), "templates": len(templates),
                  "page_languages": sorted(strings), "languages": translations}))
"""
    finished = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", program],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert finished.returncode == 0, finished.stderr
    loaded = json.loads(finished.stdout)
    assert loaded["modules"] == len(list(PACKAGE.rglob("*.py"))) - 1  # all but __init__.py
    assert loaded["templates"] == len(list((PACKAGE / "templates").glob("*.html")))
    assert set(loaded["page_languages"]) == LANGUAGES
    assert set(loaded["languages"]) == LANGUAGES


# -- the check refuses a bad zip ---------------------------------------------------------------


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
    return path


@pytest.fixture
def good_files(built: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(built) as zipped:
        return {name: zipped.read(name) for name in zipped.namelist()}


def test_good_zip_has_no_problems(built: Path) -> None:
    assert release.problems(built, release_files(), MANIFEST["version"]) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"__pycache__/views.cpython-314.pyc": b"\0"},
            "must not be in the release",
            id="bytecode",
        ),
        pytest.param({"tests/test_hand_off.py": b""}, "must not be in the release", id="tests"),
        pytest.param({"strings.json": b"{}"}, "not a file the integration loads", id="strings"),
        pytest.param({"notes.txt": b"x"}, "not a file the integration loads", id="stray-file"),
        pytest.param({"auth_oidc/manifest.json": b"{}"}, "must not be in the release", id="nested"),
        pytest.param(
            {"templates/extra.html": b'{% extends "missing.html" %}'},
            "uses templates/missing.html, which is missing",
            id="missing-template",
        ),
        pytest.param(
            {"templates/extra.html": b'<link href="{{ static_url }}/gone.css">'},
            "links static/gone.css, which is missing",
            id="missing-static",
        ),
        pytest.param(
            {"translations/it.json": b"{}"}, "differ in languages", id="language-mismatch"
        ),
    ],
)
def test_check_refuses_extra_files(
    tmp_path: Path, good_files: dict[str, bytes], change: dict[str, bytes], expected: str
) -> None:
    bad = _zip(tmp_path / ZIP_NAME, good_files | change)
    found = release.problems(bad, release_files(), None)
    assert any(expected in problem for problem in found), found
    # The listed files differ from the integration's, which is reported as well.
    assert any("does not hold" in problem for problem in found)


@pytest.mark.parametrize(
    "missing",
    ["templates/base.html", "page_translations/en.json", "brand/icon.png", "oidc/jwks.py"],
)
def test_check_refuses_a_missing_runtime_file(
    tmp_path: Path, good_files: dict[str, bytes], missing: str
) -> None:
    del good_files[missing]
    bad = _zip(tmp_path / ZIP_NAME, good_files)
    found = release.problems(bad, release_files(), None)
    assert any(missing in problem for problem in found), found


def test_check_refuses_a_version_mismatch(built: Path) -> None:
    assert release.problems(built, release_files(), "v9.9.9") == [
        f"manifest.json has version {MANIFEST['version']}, the release is v9.9.9"
    ]


def test_script_fails_and_removes_the_zip_on_a_version_mismatch(tmp_path: Path) -> None:
    finished = subprocess.run(
        [BUILD_RELEASE, "--output", tmp_path, "--version", "v9.9.9"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )
    assert finished.returncode == 1
    assert "the release is v9.9.9" in finished.stderr
    assert not (tmp_path / ZIP_NAME).exists()


# -- versions agree ----------------------------------------------------------------------------


def test_versions_agree() -> None:
    version = MANIFEST["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["version"] == version
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.MULTILINE)[0] == version
    assert f"[{version}]: " in changelog


def test_hacs_installs_the_release_zip_on_the_tested_home_assistant() -> None:
    assert HACS["zip_release"] is True
    assert HACS["filename"] == ZIP_NAME
    # The minimum Home Assistant is the version the whole suite runs against.
    assert HACS["homeassistant"] == ha_const.__version__
