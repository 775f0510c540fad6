"""Every test that the security documents cite exists: files, classes, functions and cases.

The documents name tests as `file::Class::test[case]` (each part optional), as bare test names,
as `[case]` of the test named before it on the same line, and, in the tables' "integration"
columns, as case ids of tests/test_adversarial.py's parametrized tests (`*` and `{a,b}` allowed).
The test ids come from pytest's own collection, so parametrized cases are checked too.
"""

import re
import subprocess
import sys
from fnmatch import fnmatch
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCUMENTS = [ROOT / "docs" / "security.md", ROOT / "SECURITY.md"]
CODE_SPAN = re.compile(r"`([^`]+)`")
TEST_NAME = re.compile(r"\btest_\w+|\bTest[A-Z]\w*")
TEST_FILE = re.compile(r"^(?:tests/)?(?:[\w]+/)*test_\w+\.py$")
CASE_ID = re.compile(r"^[\w*{},.-]+$")
BRACES = re.compile(r"\{([^{}]*)\}")
ADVERSARIAL = "tests/test_adversarial.py"


@cache
def collected() -> tuple[str, ...]:
    """Return the node id of every test pytest collects in tests/."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    node_ids = tuple(line for line in result.stdout.splitlines() if "::" in line)
    assert node_ids, result.stdout + result.stderr
    return node_ids


def expand_braces(pattern: str) -> list[str]:
    """Expand `a-{x,y}` into `a-x`, `a-y`."""
    if (found := BRACES.search(pattern)) is None:
        return [pattern]
    return [
        expanded
        for choice in found.group(1).split(",")
        for expanded in expand_braces(pattern[: found.start()] + choice + pattern[found.end() :])
    ]


def split_node(node_id: str) -> tuple[str, list[str], str | None]:
    """Split `file::Class::test[case]` into the file ("" if absent), the names and the case."""
    case = None
    if found := re.fullmatch(r"(.*?)\[(.*)\]", node_id):
        node_id, case = found.group(1), found.group(2)
    path, *names = node_id.split("::")
    if not path.endswith(".py"):
        path, names = "", [path, *names]
    return path, names, case


def names_a_collected_test(citation: str) -> bool:
    """Tell whether a `file::Class::test[case]` citation names a collected test."""
    cited_file, cited_names, cited_case = split_node(citation)
    cited_names = [name for name in cited_names if name != "*"]
    for node_id in collected():
        path, names, case = split_node(node_id)
        if cited_file and not (path == cited_file or path.endswith("/" + cited_file)):
            continue
        if not all(name in names for name in cited_names):
            continue
        if cited_case in (None, "...", case):
            return True
    return False


def citations() -> list[tuple[str, str]]:
    """Return (where, cited test) for every test citation in the documents."""
    found: list[tuple[str, str]] = []
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{document.name}:{number}"
            last_test = ""
            for span in CODE_SPAN.findall(line):
                if TEST_FILE.match(span):
                    found.append((where, span))
                elif TEST_NAME.search(span):
                    found.append((where, span))
                    last_test = span.split("[")[0]
                elif re.fullmatch(r"\[[^\]]+\]", span) and last_test:
                    found.append((where, last_test + span))
    return found


def integration_case_ids() -> list[tuple[str, str]]:
    """Return (where, case id pattern) of the tables' "integration" columns."""
    found: list[tuple[str, str]] = []
    for document in DOCUMENTS:
        column: int | None = None
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
            if not line.startswith("|"):
                column = None
                continue
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            if column is None:
                headers = [cell.split(" ")[0] for cell in cells]
                column = headers.index("integration") if "integration" in headers else -1
                continue
            if column < 0 or set(line) <= set("|- ") or column >= len(cells):
                continue
            for span in CODE_SPAN.findall(cells[column]):
                if not TEST_NAME.search(span) and not TEST_FILE.match(span) and CASE_ID.match(span):
                    found.append((f"{document.name}:{number}", span))
    return found


def test_the_documents_cite_tests() -> None:
    # The parsers find what the documents cite (guards against a parser that finds nothing).
    assert len(citations()) > 100
    assert len(integration_case_ids()) > 100
    assert any(where.startswith("SECURITY.md:") for where, _ in citations())


@pytest.mark.parametrize(("where", "citation"), citations(), ids=str)
def test_cited_test_exists(where: str, citation: str) -> None:
    if TEST_FILE.match(citation):
        matches = (
            [citation] if (ROOT / citation).exists() else list(ROOT.glob(f"tests/**/{citation}"))
        )
        assert matches, f"{where}: no test file {citation}"
        return
    assert names_a_collected_test(citation), f"{where}: no test {citation}"


@pytest.mark.parametrize(("where", "pattern"), integration_case_ids(), ids=str)
def test_cited_case_exists(where: str, pattern: str) -> None:
    cases = {
        case
        for node_id in collected()
        if node_id.startswith(ADVERSARIAL) and (case := split_node(node_id)[2]) is not None
    }
    for expanded in expand_braces(pattern):
        assert any(fnmatch(case, expanded) for case in cases), f"{where}: no case {expanded}"
