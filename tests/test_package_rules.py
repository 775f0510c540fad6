"""The repository passes the local hassfest and HACS rules, and each rule catches a bad example."""

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from homeassistant.util.yaml import parse_yaml
from PIL import Image

from tools import package_rules
from tools.package_rules import (
    config_flow_problems,
    config_schema_problems,
    dependency_problems,
    hacs_json_problems,
    hacs_repository_problems,
    integration_problems,
    manifest_problems,
    repository_problems,
    strings_problems,
)

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "custom_components" / "auth_oidc"
MANIFEST = json.loads((PACKAGE / "manifest.json").read_text(encoding="utf-8"))
STRINGS = json.loads((PACKAGE / "strings.json").read_text(encoding="utf-8"))
HACS = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
CONFIG_FLOW = (PACKAGE / "config_flow.py").read_text(encoding="utf-8")
INIT = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
RESERVED_DISCOVERY = "step 'discovery' takes the name of a Home Assistant discovery source"


def test_repository_passes_every_rule() -> None:
    assert repository_problems(ROOT) == []


def test_every_language_passes_the_translation_rules() -> None:
    # repository_problems covers them too; this names the files so a failure is clear.
    files = [PACKAGE / "strings.json", *sorted((PACKAGE / "translations").glob("*.json"))]
    assert len(files) == 6
    for path in files:
        assert strings_problems(json.loads(path.read_text(encoding="utf-8")), path.name) == []


# -- translations --------------------------------------------------------------------------


def _with(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    strings: dict[str, Any] = copy.deepcopy(STRINGS)
    change(strings)
    return strings


def _set_description(text: str) -> Callable[[dict[str, Any]], None]:
    def change(strings: dict[str, Any]) -> None:
        strings["config"]["step"]["user"]["description"] = text

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda strings: strings.update(login_page={"title": "Log in"}),
            "strings.json: login_page: ",
            id="login_page-top-level-key",
        ),
        pytest.param(
            _set_description("For example https://id.example.com."),
            "should not contain URLs",
            id="url",
        ),
        pytest.param(
            _set_description("Open www.example.org first."), "should not contain URLs", id="www"
        ),
        pytest.param(_set_description("Hi {base-url}"), "identifiers", id="bad-placeholder"),
        pytest.param(_set_description("Hi '{name}'"), "single quotes", id="quoted-placeholder"),
        pytest.param(_set_description("Hi {name"), "unbalanced", id="unbalanced"),
        pytest.param(_set_description("<b>Hi</b>"), "HTML", id="html"),
        pytest.param(_set_description("Hi "), "trailing spaces", id="trailing-space"),
        pytest.param(
            _set_description("See [%key:common::config_flow::data::host%] here"),
            "whole string",
            id="combined-reference",
        ),
        pytest.param(
            lambda strings: strings["config"]["step"]["client"]["data"].pop("client_id"),
            "data_description key client_id is not in data",
            id="description-without-label",
        ),
        pytest.param(
            lambda strings: strings["selector"]["preset"]["options"].update({"Pocket-ID": "x"}),
            "invalid translation key",
            id="selector-key",
        ),
        pytest.param(
            lambda strings: strings["config"].update(title="Old title"),
            "strings.json: config/title: ",
            id="removed-config-title",
        ),
        pytest.param(
            lambda strings: strings["config"]["error"].update(bad=3),
            "expected a string",
            id="not-a-string",
        ),
    ],
)
def test_translation_rule_catches(change: Callable[[dict[str, Any]], None], expected: str) -> None:
    problems = strings_problems(_with(change), "strings.json")
    assert any(expected in problem for problem in problems), problems


def test_translation_rules_accept_a_whole_reference() -> None:
    strings = _with(_set_description("[%key:common::config_flow::data::host%]"))
    assert strings_problems(strings, "strings.json") == []


# -- manifest ------------------------------------------------------------------------------


def _manifest(**changes: Any) -> dict[str, Any]:
    manifest = dict(MANIFEST)
    for key, value in changes.items():
        if value is None:
            manifest.pop(key)
        else:
            manifest[key] = value
    return manifest


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        pytest.param(_manifest(version=None), "required key not provided", id="no-version"),
        pytest.param(_manifest(version="0.2"), "not a semantic version", id="version-not-semver"),
        pytest.param(_manifest(codeowners=None), "required key not provided", id="no-codeowners"),
        pytest.param(
            _manifest(documentation="http://example.com/docs"), "https://", id="http-docs"
        ),
        pytest.param(_manifest(iot_class=None), "missing an IoT class", id="no-iot-class"),
        pytest.param(_manifest(iot_class="cloudy"), "manifest: iot_class: ", id="bad-iot-class"),
        pytest.param(_manifest(domain="other"), "does not match the folder", id="domain-folder"),
        pytest.param(_manifest(domain="person"), "collides with a built-in", id="core-domain"),
        pytest.param(
            _manifest(homepage="https://x.example"), "manifest: homepage: ", id="unknown-key"
        ),
        pytest.param(
            _manifest(requirements=["joserfc >= 1.0"]), "contains a space", id="requirement-space"
        ),
        pytest.param(
            _manifest(requirements=["joserfc>=1.0"]), "not pinned", id="requirement-unpinned"
        ),
        pytest.param(
            {"name": MANIFEST["name"], **_manifest()}, "not ordered", id="name-before-domain"
        ),
        pytest.param(
            {**_manifest(codeowners=None), "codeowners": MANIFEST["codeowners"]},
            "not ordered",
            id="unsorted-keys",
        ),
    ],
)
def test_manifest_rule_catches(manifest: dict[str, Any], expected: str) -> None:
    problems = manifest_problems(manifest, "auth_oidc")
    assert any(expected in problem for problem in problems), problems


# -- config flow, dependencies, config schema ----------------------------------------------


def test_config_flow_rule_catches_the_reserved_discovery_step() -> None:
    renamed = CONFIG_FLOW.replace("async_step_provider_url", "async_step_discovery")
    problems = config_flow_problems(MANIFEST, renamed, STRINGS)
    assert any(
        "step 'discovery' takes the name of a Home Assistant discovery" in p for p in problems
    )
    strings = _with(
        lambda strings: strings["config"]["step"].update(
            discovery=strings["config"]["step"].pop("provider_url")
        )
    )
    problems = config_flow_problems(MANIFEST, CONFIG_FLOW, strings)
    assert any(
        "step 'discovery' takes the name of a Home Assistant discovery" in p for p in problems
    )


def test_config_flow_rule_allows_a_declared_discovery_source() -> None:
    source = CONFIG_FLOW + "\n\nasync def async_step_zeroconf(self, info):\n    return None\n"
    assert any("'zeroconf'" in p for p in config_flow_problems(MANIFEST, source, STRINGS))
    declared = _manifest(zeroconf=["_oidc._tcp.local."])
    assert config_flow_problems(declared, source, STRINGS) == []


def test_config_flow_rule_catches_a_missing_flow() -> None:
    assert config_flow_problems(MANIFEST, None, STRINGS) == [
        "config_flow: config_flow is true but config_flow.py is missing"
    ]
    no_class = CONFIG_FLOW.replace("(ConfigFlow, domain=DOMAIN)", "")
    assert any("no ConfigFlow" in p for p in config_flow_problems(MANIFEST, no_class, STRINGS))
    problems = config_flow_problems(_manifest(config_flow=None), CONFIG_FLOW, STRINGS)
    assert any("lacks config_flow" in p for p in problems)


def test_config_flow_rule_catches_a_discoverable_flow_without_unique_id() -> None:
    source = (
        "class Flow(ConfigFlow, domain='x'):\n"
        "    async def async_step_zeroconf(self, info):\n        return None\n"
    )
    problems = config_flow_problems(_manifest(zeroconf=["_x._tcp.local."]), source, {})
    assert problems == ["config_flow: a discoverable config flow must set a unique ID"]


@pytest.mark.parametrize(
    ("manifest", "source", "expected"),
    [
        pytest.param(
            MANIFEST,
            "from homeassistant.components.cloud import async_is_logged_in\n",
            "imports cloud but it is not in dependencies",
            id="undeclared-import",
        ),
        pytest.param(
            MANIFEST,
            "from homeassistant.components import recorder\n",
            "imports recorder",
            id="undeclared-package-import",
        ),
        pytest.param(
            MANIFEST,
            "import homeassistant.components.cloud.const\n",
            "imports cloud",
            id="undeclared-plain-import",
        ),
        pytest.param(
            _manifest(dependencies=["auth", "http", "no_such_integration"]),
            "",
            "no_such_integration is not a Home Assistant integration",
            id="unknown-dependency",
        ),
        pytest.param(
            _manifest(dependencies=["auth", "http", "person"]),
            "",
            "person is in both dependencies and after_dependencies",
            id="listed-twice",
        ),
    ],
)
def test_dependency_rule_catches(manifest: dict[str, Any], source: str, expected: str) -> None:
    problems = dependency_problems(manifest, {"extra.py": source})
    assert any(expected in problem for problem in problems), problems


def test_dependency_rule_ignores_type_checking_imports() -> None:
    source = "if TYPE_CHECKING:\n    from homeassistant.components.cloud import Cloud\n"
    assert dependency_problems(MANIFEST, {"extra.py": source}) == []


def test_config_schema_rule() -> None:
    assert config_schema_problems(INIT) == []
    without = INIT.replace("CONFIG_SCHEMA = ", "SCHEMA = ")
    assert len(config_schema_problems(without)) == 1
    imported = "from x import CONFIG_SCHEMA\n\nasync def async_setup(hass, config):\n    pass\n"
    assert config_schema_problems(imported) == []
    assert config_schema_problems("async def async_setup_entry(hass, entry):\n    pass\n") == []


# -- HACS and brand ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hacs", "expected"),
    [
        pytest.param({k: v for k, v in HACS.items() if k != "name"}, "json: name: ", id="no-name"),
        pytest.param({**HACS, "domains": ["x"]}, "hacs.json: domains: ", id="unknown-key"),
        pytest.param({**HACS, "homeassistant": "latest"}, "does not match", id="bad-version"),
        pytest.param(
            {k: v for k, v in HACS.items() if k != "filename"},
            "filename is not set",
            id="zip-without-filename",
        ),
    ],
)
def test_hacs_json_rule_catches(hacs: dict[str, Any], expected: str) -> None:
    problems = hacs_json_problems(hacs)
    assert any(expected in problem for problem in problems), problems


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """Return a copy of the repository's files that the rules read."""
    shutil.copy(ROOT / "hacs.json", tmp_path / "hacs.json")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copy(ROOT / "LICENSE", tmp_path / "LICENSE")
    shutil.copytree(
        PACKAGE,
        tmp_path / "custom_components" / "auth_oidc",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    assert repository_problems(tmp_path) == []
    return tmp_path


def test_hacs_rule_catches_a_missing_readme_license_and_hacs_json(repository: Path) -> None:
    (repository / "README.md").unlink()
    assert hacs_repository_problems(repository) == [
        "hacs: the repository has no information file (README.md)"
    ]
    (repository / "LICENSE").unlink()
    assert "hacs: the repository has no license file (LICENSE)" in hacs_repository_problems(
        repository
    )
    (repository / "hacs.json").unlink()
    assert hacs_repository_problems(repository) == ["hacs: the repository has no hacs.json"]


def test_hacs_rule_catches_a_second_integration(repository: Path) -> None:
    (repository / "custom_components" / "other").mkdir()
    problems = hacs_repository_problems(repository)
    assert any("must hold one integration" in problem for problem in problems), problems


def test_hacs_rule_catches_a_manifest_without_issue_tracker(repository: Path) -> None:
    path = repository / "custom_components" / "auth_oidc" / "manifest.json"
    path.write_text(json.dumps(_manifest(issue_tracker=None)), encoding="utf-8")
    assert "hacs: manifest.json has no issue_tracker" in hacs_repository_problems(repository)


def test_brand_rule_catches_missing_wrong_and_unknown_images(repository: Path) -> None:
    brand = repository / "custom_components" / "auth_oidc" / "brand"
    Image.new("RGBA", (200, 200)).save(brand / "icon@2x.png")
    Image.new("RGB", (256, 256)).save(brand / "dark_icon.png")
    Image.new("RGBA", (600, 100)).save(brand / "logo.png")
    Image.new("RGBA", (64, 64)).save(brand / "favicon.png")
    (brand / "dark_logo.png").write_bytes(b"not an image")
    Image.new("RGBA", (256, 256)).save(brand / "logo@2x.png", format="GIF")
    problems = hacs_repository_problems(repository)
    expected = [
        "icon@2x.png is (200, 200), not (512, 512)",
        "dark_icon.png has no transparency",
        "logo.png's shortest side is 100",
        "favicon.png is not an image Home Assistant serves",
        "dark_logo.png is not an image",
        "logo@2x.png is GIF, not PNG",
    ]
    for text in expected:
        assert any(text in problem for problem in problems), (text, problems)
    shutil.rmtree(brand)
    assert hacs_repository_problems(repository) == [
        "brand: brand/icon.png is missing (HACS and Home Assistant need it)"
    ]


def test_broken_json_is_reported(repository: Path) -> None:
    integration = repository / "custom_components" / "auth_oidc"
    (integration / "translations" / "de.json").write_text("{", encoding="utf-8")
    problems = integration_problems(integration)
    assert any(p.startswith("json: translations/de.json is not valid JSON") for p in problems)


def test_the_old_strings_fail_the_rules() -> None:
    # The strings as they were before the login pages' texts and URLs moved out: hassfest
    # refused them, and so does the local check.
    old = _with(
        lambda strings: (
            strings.update(login_page={"welcome": "Log in with {name}"}),
            strings["config"]["error"].update(invalid_url="Enter https://id.example.com."),
        )
    )
    problems = strings_problems(old, "strings.json")
    assert any("login_page" in problem for problem in problems), problems
    assert any("URLs" in problem for problem in problems), problems


def test_cli_reports_problems(repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert package_rules._print_problems(repository_problems(repository)) == 0
    (repository / "README.md").unlink()
    assert package_rules._print_problems(repository_problems(repository)) == 1
    assert "no information file" in capsys.readouterr().out


# -- GitHub workflows ----------------------------------------------------------------------


def _workflow(name: str) -> dict[Any, Any]:
    document = parse_yaml((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_workflows_run_the_real_validators_the_suite_and_the_release() -> None:
    validate = _steps(_workflow("validate.yml"))
    assert {"uses": "home-assistant/actions/hassfest@master"} in validate
    assert {"uses": "hacs/action@main", "with": {"category": "integration"}} in validate
    tests = _workflow("tests.yml")
    assert tests["jobs"]["test"]["runs-on"] == "ubuntu-latest"
    assert {"name": "Run scripts/test", "run": "scripts/test"} in _steps(tests)
    release = _workflow("release.yml")
    # yaml reads the bare key `on` as True.
    assert release[True] == {"release": {"types": ["published"]}}
    runs = [step.get("run", "") for step in _steps(release)]
    assert any(run.startswith("scripts/build-release --version") for run in runs)
    assert any(f"dist/{HACS['filename']}" in run for run in runs)
