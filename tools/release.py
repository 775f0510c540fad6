"""Build the release zip that HACS installs, and check what is in it.

`scripts/build-release [--output DIR] [--version X.Y.Z]` writes DIR/auth_oidc.zip (default
DIR: dist/). HACS (`zip_release` in hacs.json) extracts the zip into
custom_components/auth_oidc/, so the integration's files sit at the zip's root.

The zip holds exactly the files of custom_components/auth_oidc that git tracks, except
strings.json (the source of translations/en.json, which Home Assistant never reads at run
time) and quality_scale.yaml (a record for reviewers): no __pycache__, no tests, no stray
local files. The check then reads the written zip
back and refuses it unless every file the integration loads at run time is there (every
Python module, manifest.json, templates and the templates they extend or include, the static
files they link, translations and page translations for the same languages, the brand icon),
and nothing but those kinds of files is. With --version, the manifest's version must match
(a release tag "v0.2.0" passes as 0.2.0). Only the standard library is needed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Final

REPOSITORY: Final = Path(__file__).resolve().parents[1]
DOMAIN: Final = "auth_oidc"
ZIP_NAME: Final = f"{DOMAIN}.zip"
SOURCE_ONLY: Final = frozenset({"strings.json", "quality_scale.yaml"})
RUNTIME_SUFFIXES: Final = frozenset({".py", ".json", ".html", ".css", ".js", ".png"})
REQUIRED: Final = (
    "__init__.py",
    "manifest.json",
    "config_flow.py",
    "oidc/__init__.py",
    "translations/en.json",
    "page_translations/en.json",
    "templates/base.html",
    "brand/icon.png",
)
# A zip entry's date; a fixed one makes two builds of the same files identical.
_ZIP_DATE: Final = (2026, 1, 1, 0, 0, 0)
_TEMPLATE_REFERENCE: Final = re.compile(
    r"""\{%-?\s*(?:extends|include|import)\s+["']([^"']+)["']"""
)
_STATIC_REFERENCE: Final = re.compile(r"\{\{\s*static_url\s*\}\}/([\w./-]+)")


def release_files(repository: Path = REPOSITORY) -> list[str]:
    """Return the integration's files that git tracks, relative to its folder, sorted."""
    integration = f"custom_components/{DOMAIN}/"
    listed = subprocess.run(  # noqa: S603 - fixed arguments
        ["git", "ls-files", "-z", "--", integration],  # noqa: S607 - git from PATH
        cwd=repository,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names = [path.removeprefix(integration) for path in listed.split("\0") if path]
    return sorted(name for name in names if name not in SOURCE_ONLY)


def build(output: Path, repository: Path = REPOSITORY) -> Path:
    """Write the release zip into `output` and return its path."""
    integration = repository / "custom_components" / DOMAIN
    output.mkdir(parents=True, exist_ok=True)
    archive = output / ZIP_NAME
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name in release_files(repository):
            entry = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zipped.writestr(entry, (integration / name).read_bytes())
    return archive


def problems(archive: Path, expected: Iterable[str], version: str | None = None) -> list[str]:
    """Return what is wrong with a built release zip; `expected` lists the files it must hold."""
    with zipfile.ZipFile(archive) as zipped:
        names = sorted(zipped.namelist())
        contents = {name: zipped.read(name) for name in names}
    found: list[str] = []
    expected_names = sorted(expected)
    if names != expected_names:
        missing = sorted(set(expected_names) - set(names))
        extra = sorted(set(names) - set(expected_names))
        found.append(
            f"the zip does not hold the integration's files: missing {missing}, extra {extra}"
        )
    found += [f"{name} is required but missing" for name in REQUIRED if name not in contents]
    for name in names:
        path = PurePosixPath(name)
        if "__pycache__" in path.parts or "tests" in path.parts or path.parts[0] == DOMAIN:
            found.append(f"{name} must not be in the release")
        elif path.suffix not in RUNTIME_SUFFIXES or name in SOURCE_ONLY:
            found.append(f"{name} is not a file the integration loads at run time")
    for name in (name for name in names if name.startswith("templates/")):
        text = contents[name].decode("utf-8")
        found += [
            f"{name} uses templates/{target}, which is missing"
            for target in _TEMPLATE_REFERENCE.findall(text)
            if f"templates/{target}" not in contents
        ]
        found += [
            f"{name} links static/{target}, which is missing"
            for target in _STATIC_REFERENCE.findall(text)
            if f"static/{target}" not in contents
        ]
    languages = {
        folder: {PurePosixPath(n).stem for n in names if n.startswith(f"{folder}/")}
        for folder in ("translations", "page_translations")
    }
    if languages["translations"] != languages["page_translations"]:
        found.append(f"translations and page translations differ in languages: {languages}")
    if "manifest.json" in contents:
        manifest_version = json.loads(contents["manifest.json"])["version"]
        if version is not None and manifest_version != version.removeprefix("v"):
            found.append(f"manifest.json has version {manifest_version}, the release is {version}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Build and check the release zip; print its path, or the problems and exit 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPOSITORY / "dist")
    parser.add_argument("--version", help="the release's version or tag, e.g. v0.2.0")
    arguments = parser.parse_args(argv)
    archive = build(arguments.output)
    found = problems(archive, release_files(), arguments.version)
    for problem in found:
        print(f"build-release: {problem}", file=sys.stderr)
    if found:
        archive.unlink()
        return 1
    print(archive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
