"""The user documentation's links and pictures lead somewhere.

HACS renders README.md outside GitHub, where relative links break: the README links with
absolute GitHub addresses of this repository, which must name files that exist. The pages
under docs/ link relatively. Every link to a Markdown file's heading must find that heading
(GitHub's anchors: lower case, punctuation dropped, spaces as dashes).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = REPO_ROOT / "custom_components" / "auth_oidc" / "manifest.json"
DOCS = sorted((REPO_ROOT / "docs").rglob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def repository_url() -> str:
    """Return the repository's GitHub address, from manifest.json's issue tracker."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return str(manifest["issue_tracker"]).removesuffix("/issues")


def links(path: Path) -> list[str]:
    """Return the link and image targets of a Markdown file, outside code blocks."""
    return LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8")))


def anchors(path: Path) -> set[str]:
    """Return GitHub's anchors for the headings of a Markdown file."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {
        re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        for heading in HEADING.findall(text)
    }


def check_target(source: Path, target: Path, fragment: str) -> None:
    """Fail unless target exists and, for a fragment into Markdown, has that heading."""
    assert target.exists(), f"{source.relative_to(REPO_ROOT)} links to a missing {target}"
    if fragment and target.suffix == ".md":
        assert fragment in anchors(target), (
            f"{source.relative_to(REPO_ROOT)} links to #{fragment}, which "
            f"{target.relative_to(REPO_ROOT)} has no heading for"
        )


def test_anchor_rule_matches_githubs() -> None:
    """The anchor rule gives GitHub's anchors for this project's kinds of headings."""
    page = REPO_ROOT / "README.md"
    assert "when-single-sign-on-does-not-work-home-assistants-own-login" in anchors(page)
    assert "by-hand" in anchors(page)


def test_readme_links_are_absolute_and_lead_to_files() -> None:
    """README.md uses absolute addresses; those into this repository name existing files."""
    repo = repository_url()
    readme = REPO_ROOT / "README.md"
    targets = links(readme)
    assert targets, "README.md has no links"
    inside = re.compile(rf"^{re.escape(repo)}/(?:blob|raw)/main/([^#]+)(?:#(.*))?$")
    for target in targets:
        assert target.startswith(("https://", "http://", "#")), (
            f"README.md has a relative link {target}: HACS cannot follow it"
        )
        if match := inside.match(target):
            check_target(readme, REPO_ROOT / match[1], match[2] or "")
        elif target.startswith("#"):
            check_target(readme, readme, target[1:])


@pytest.mark.parametrize("page", DOCS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_docs_links_lead_to_files_and_headings(page: Path) -> None:
    """Relative links and pictures of the pages under docs/ exist, with their headings."""
    for target in links(page):
        if target.startswith(("https://", "http://", "mailto:")):
            continue
        path, _, fragment = target.partition("#")
        check_target(page, (page.parent / path).resolve() if path else page, fragment)
