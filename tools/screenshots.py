"""Regenerate the documentation's screenshots (docs/images/*.png) from real Chromium runs.

``scripts/screenshots`` runs ``python -m tools.screenshots``. It starts the demo identity
provider (``tools/oidc-provider/demo-config.json``) and a fresh, onboarded Home Assistant
with this integration but no ``auth_oidc:`` YAML, both in a temporary folder, through the
end-to-end harness of ``tests/e2e``. Headless Chromium then does what a new user does:

1. logs in as the owner, opens Settings → Devices & services → Add integration;
2. tries an address whose name does not resolve (the failed check), closes that dialog;
3. sets up Pocket ID: preset, provider address, client, groups and roles, users; and
4. logs out: the welcome page, then "Use another login method" (Home Assistant's form);
   logs in as the owner at the README's address of that form (so the README's address is
   proven to work), logs out, and logs in with "Log in with Pocket ID" at the demo provider;
5. as that user (an administrator through the group admins), opens the integration's page:
   the entry's menu with Reconfigure, and Configure (the options);
6. follows the FAQ's removal advice: the owner gives that user a password with the FAQ's
   console command, deletes the entry, and the user logs in with Home Assistant's form.

The steps are found by their visible titles and labels (never by a step's internal id), so
renaming a step does not break this script; a changed title or label does, loudly. Each
picture is taken once the page is still (see ``settle``) and saved as an 8-bit palette PNG.
Options: ``--output`` (default docs/images), ``--keep`` (keep the temporary folder with the
logs), ``--help``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from PIL import Image
from playwright.sync_api import Locator, Page, ViewportSize, expect, sync_playwright

from tests.e2e import ha_pages
from tests.e2e.hass_process import HassInstance
from tests.e2e.provider_process import ProviderProcess
from tests.e2e.support import LOOPBACK, REPO_ROOT, free_port, port_is_free
from tools.devstack import load_demo_config

DEFAULT_OUTPUT = REPO_ROOT / "docs" / "images"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
TIMEOUT_MS = 30_000
# The ports of the guides' examples when they are free, so the pictures match the text.
PREFERRED_HASS_PORT = 8123
PREFERRED_PROVIDER_PORT = 9000
PALETTE_COLOURS = 128

INTEGRATION_NAME = "OpenID Connect/SSO Authentication"
PRESET = "Pocket ID"
PRESET_TITLE = "Set up single sign-on"
ADDRESS_TITLE = f"Connect to {PRESET}"
ADDRESS_LABEL = "Provider address"
CLIENT_TITLE = f"Register Home Assistant at {PRESET}"
CLIENT_ID_LABEL = "Client ID"
ROLES_TITLE = "Groups and roles"
REQUIRED_GROUP_LABEL = "Required group"
REQUIRED_GROUP = "users"
USERS_TITLE = "Users and login page"
DONE_TITLE = "Success"
OPTIONS_TITLE = f"Options for {PRESET}"
INTEGRATION_PAGE_PATH = "/config/integrations/integration/auth_oidc"
SSO_USER = "alice"
SSO_USER_NAME = "Alice Admin"
# The example address of Home Assistant in the README.
README_HASS_URL = "https://ha.example.com"
# A mistyped provider address: no DNS name under .invalid resolves (RFC 6761 §6.4).
UNKNOWN_HOST_URL = "https://id.example.invalid"


def say(message: str) -> None:
    """Print a progress line of this command."""
    print(f"screenshots: {message}", flush=True)


def pick_port(preferred: int, taken: Sequence[int] = ()) -> int:
    """Return the preferred port when it is free, else any free one."""
    if port_is_free(preferred) and preferred not in taken:
        return preferred
    port = free_port()
    while port in taken:
        port = free_port()
    return port


def demo_provider(work_dir: Path, port: int, hass_url: str) -> ProviderProcess:
    """Return the demo provider of demo-config.json on port, redirecting to hass_url."""
    demo = load_demo_config()
    demo_hass_url = f"http://{LOOPBACK}:{PREFERRED_HASS_PORT}"
    clients: list[Mapping[str, Any]] = [
        {
            key: [uri.replace(demo_hass_url, hass_url) for uri in value]
            if key.endswith("_uris")
            else value
            for key, value in client.items()
        }
        for client in demo["clients"]
    ]
    return ProviderProcess(
        work_dir,
        hass_url=hass_url,
        alg=str(demo.get("alg", "RS256")),
        port=port,
        clients=clients,
        users=demo["users"],
    )


@dataclass
class Camera:
    """Save still pictures of a page as palette PNGs."""

    page: Page
    output: Path

    def shoot(self, name: str) -> None:
        """Wait until the page is still, then save it as <output>/<name>.png."""
        settle(self.page)
        path = self.output / f"{name}.png"
        raw = path.with_suffix(".raw.png")
        self.page.screenshot(path=raw)
        with Image.open(raw) as image:
            image.convert("RGB").quantize(PALETTE_COLOURS).save(path, optimize=True)
        raw.unlink()
        say(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")


def settle(page: Page) -> None:
    """Wait for lazily loaded parts, web fonts and every animation (shadow roots too)."""
    # Home Assistant's login page loads its background and layout after the form shows.
    page.wait_for_load_state("networkidle")
    page.evaluate("() => document.fonts.ready")
    ha_pages.wait_for_animations(page)


def type_into(field: Locator, text: str) -> None:
    """Fill a form field and check that the form took the value."""
    field.fill(text)
    expect(field).to_have_value(text)


def open_setup(page: Page, hass: HassInstance) -> Locator:
    """Open Settings → Devices & services → Add integration, search; return the result."""
    page.goto(f"{hass.url}/")
    ha_pages.expect_dashboard(page, hass)
    result = ha_pages.search_integration(page, hass, INTEGRATION_NAME)
    expect(result).to_be_visible()
    return result


def choose_preset(page: Page) -> None:
    """Choose the Pocket ID preset on the flow's first step and submit it."""
    expect(ha_pages.flow_title(page, PRESET_TITLE)).to_be_visible()
    radio = ha_pages.flow_dialog(page).get_by_role("radio", name=PRESET, exact=True)
    radio.check()
    expect(radio).to_be_checked()
    ha_pages.flow_submit(page)
    expect(ha_pages.flow_title(page, ADDRESS_TITLE)).to_be_visible()


def shoot_failed_check(page: Page, hass: HassInstance, camera: Camera) -> None:
    """Enter an address whose name does not resolve; picture the error; close the flow."""
    open_setup(page, hass).click()
    choose_preset(page)
    type_into(ha_pages.flow_field(page, ADDRESS_LABEL), UNKNOWN_HOST_URL)
    ha_pages.flow_submit(page)
    expect(ha_pages.flow_error(page)).to_contain_text("Cannot connect to the provider")
    expect(ha_pages.flow_title(page, ADDRESS_TITLE)).to_be_visible()
    camera.shoot("setup-3-check-failed")
    ha_pages.close_flow(page)
    expect(ha_pages.flow_title(page, ADDRESS_TITLE)).to_be_hidden()


def shoot_setup(page: Page, hass: HassInstance, provider: ProviderProcess, camera: Camera) -> None:
    """Set up Pocket ID in the UI, picturing every step."""
    result = open_setup(page, hass)
    camera.shoot("setup-1-add-integration")
    result.click()

    expect(ha_pages.flow_title(page, PRESET_TITLE)).to_be_visible()
    camera.shoot("setup-2-preset")
    choose_preset(page)

    type_into(ha_pages.flow_field(page, ADDRESS_LABEL), provider.issuer)
    camera.shoot("setup-3-provider-url")
    ha_pages.flow_submit(page)

    expect(ha_pages.flow_title(page, CLIENT_TITLE)).to_be_visible()
    flow = ha_pages.flow_dialog(page)
    expect(flow.get_by_role("link", name=provider.issuer, exact=True)).to_be_visible()
    type_into(ha_pages.flow_field(page, CLIENT_ID_LABEL), provider.public_client_id)
    camera.shoot("setup-4-client")
    ha_pages.flow_submit(page)

    expect(ha_pages.flow_title(page, ROLES_TITLE)).to_be_visible()
    type_into(ha_pages.flow_field(page, REQUIRED_GROUP_LABEL), REQUIRED_GROUP)
    camera.shoot("setup-5-roles")
    ha_pages.flow_submit(page)

    expect(ha_pages.flow_title(page, USERS_TITLE)).to_be_visible()
    camera.shoot("setup-6-linking")
    ha_pages.flow_submit(page)

    expect(ha_pages.flow_title(page, DONE_TITLE)).to_be_visible()
    expect(flow).to_contain_text(f"Created configuration for {PRESET}.")
    camera.shoot("setup-7-done")
    flow.get_by_role("button", name="Finish").click()
    expect(ha_pages.flow_title(page, DONE_TITLE)).to_be_hidden()


def shoot_login(page: Page, hass: HassInstance, camera: Camera) -> None:
    """Log out; picture the welcome page, the other login method and an SSO login."""
    # This browser cached Home Assistant's own login page before the integration was set up.
    page.context.new_cdp_session(page).send("Network.clearBrowserCache")
    ha_pages.log_out(page, hass)
    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))
    page.goto(f"{hass.url}/")
    expect(ha_pages.welcome_heading(page)).to_be_visible()
    camera.shoot("login-1-welcome")

    ha_pages.other_login_method_link(page).click()
    expect(page).to_have_url(ha_pages.authorize_url_pattern(hass))
    expect(ha_pages.username_field(page)).to_be_visible()
    camera.shoot("login-2-other-method")

    # The README's address of Home Assistant's own login must work as it is written there.
    page.goto(readme_backup_login_url(hass.url))
    expect(ha_pages.username_field(page)).to_be_visible()
    ha_pages.password_login(page, hass.owner_username, hass.owner_password)
    ha_pages.expect_dashboard(page, hass, user_name=hass.owner_name)
    say("the README's backup login address works")
    ha_pages.log_out(page, hass)
    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))

    page.goto(f"{hass.url}/")
    expect(ha_pages.welcome_heading(page)).to_be_visible()
    ha_pages.sso_button(page, PRESET).click()
    ha_pages.provider_login(page, SSO_USER, f"{SSO_USER}-password")
    ha_pages.expect_dashboard(page, hass, user_name=SSO_USER_NAME)


def shoot_management(page: Page, hass: HassInstance, camera: Camera) -> None:
    """Picture the integration's page with the entry's menu (Reconfigure) and its options."""
    page.goto(f"{hass.url}{INTEGRATION_PAGE_PATH}")
    expect(page.get_by_role("heading", name=INTEGRATION_NAME)).to_be_visible()
    configure = page.get_by_role("button", name="Configure")
    expect(configure).to_have_count(1)
    # The page's own menu comes first, the entry's last.
    page.get_by_role("button", name="Menu").last.click()
    expect(page.get_by_text("Reconfigure", exact=True)).to_be_visible()
    camera.shoot("manage-1-entry-menu")
    page.keyboard.press("Escape")
    expect(page.get_by_text("Reconfigure", exact=True)).to_be_hidden()

    configure.click()
    expect(ha_pages.flow_title(page, OPTIONS_TITLE)).to_be_visible()
    camera.shoot("manage-2-options")
    ha_pages.close_flow(page)
    expect(ha_pages.flow_title(page, OPTIONS_TITLE)).to_be_hidden()


def open_dashboard_after_login(page: Page, hass: HassInstance, user_name: str) -> None:
    """Wait for the login to return to the frontend, then open the dashboard as user_name."""
    # The frontend returns to the page it was on before the logout (here the profile).
    page.wait_for_url(lambda url: "/auth/" not in url)
    page.goto(f"{hass.url}/")
    ha_pages.expect_dashboard(page, hass, user_name=user_name)


def check_removal(page: Page, hass: HassInstance) -> None:
    """Give the SSO user a password as the FAQ says, remove the entry, log in with it."""
    ha_pages.log_out(page, hass)
    expect(page).to_have_url(ha_pages.welcome_url_pattern(hass))
    ha_pages.other_login_method_link(page).click()
    ha_pages.password_login(page, hass.owner_username, hass.owner_password)
    open_dashboard_after_login(page, hass, hass.owner_name)
    user = hass.user_by_name(SSO_USER_NAME)
    if user is None:
        raise RuntimeError(f"no user {SSO_USER_NAME!r} after the single sign-on login")
    password = f"{SSO_USER}-home-assistant-password"
    page.evaluate(f"async () => {{ {faq_password_command(user['id'], SSO_USER, password)} }}")

    for entry in hass.api("GET", "/api/config/config_entries/entry?domain=auth_oidc").json():
        hass.api("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")
    ha_pages.log_out(page, hass)
    expect(page).to_have_url(ha_pages.authorize_url_pattern(hass))
    expect(ha_pages.welcome_heading(page)).to_have_count(0)
    ha_pages.password_login(page, SSO_USER, password)
    open_dashboard_after_login(page, hass, SSO_USER_NAME)
    say("the FAQ's password command works: after the removal, alice logs in with a password")


class DocError(Exception):
    """An address or command in the docs is not the one this script proves to work."""


def frontend_state(hass_url: str) -> str:
    """Return the OAuth state that Home Assistant's frontend sends and checks on its return."""
    state = json.dumps({"hassUrl": hass_url, "clientId": f"{hass_url}/"}, separators=(",", ":"))
    return base64.b64encode(state.encode()).decode()


def frontend_query(hass_url: str) -> dict[str, str]:
    """Return the frontend's authorize query for hass_url, asking for HA's own login form."""
    return {
        "response_type": "code",
        "client_id": f"{hass_url}/",
        "redirect_uri": f"{hass_url}/?auth_callback=1",
        "state": frontend_state(hass_url),
        "skip_oidc_redirect": "true",
    }


def backup_login_url(hass_url: str) -> str:
    """Return the address of Home Assistant's own login form, as the README writes it."""
    return f"{hass_url}/auth/authorize?{urlencode(frontend_query(hass_url), quote_via=quote)}"


def readme_backup_login_url(hass_url: str) -> str:
    """Check the README's address of Home Assistant's own login; return it for hass_url."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    expected = backup_login_url(README_HASS_URL)
    if expected not in readme.splitlines():
        raise DocError(f"README.md should have this line:\n{expected}")
    return backup_login_url(hass_url)


def faq_password_command(user_id: str, username: str, password: str) -> str:
    """Return the FAQ's console command that gives a user a password, filled in."""
    faq = (REPO_ROOT / "docs" / "faq.md").read_text(encoding="utf-8")
    blocks: list[str] = re.findall(r"```js\n(.*?)```", faq, re.DOTALL)
    if len(blocks) != 1:
        raise DocError(f"docs/faq.md should have one js block, has {len(blocks)}")
    command = blocks[0]
    values = {"USER_ID": user_id, "anna": username, "a long new password": password}
    for placeholder, value in values.items():
        if (quoted := json.dumps(placeholder)) not in command:
            raise DocError(f"docs/faq.md's command has no {quoted}")
        command = command.replace(quoted, json.dumps(value))
    return command


def owner_login(page: Page, hass: HassInstance) -> None:
    """Log in as the owner with Home Assistant's password form."""
    page.goto(f"{hass.url}/")
    expect(ha_pages.username_field(page)).to_be_visible()
    ha_pages.password_login(page, hass.owner_username, hass.owner_password)
    ha_pages.expect_dashboard(page, hass, user_name=hass.owner_name)


@contextmanager
def running_stack(work_dir: Path) -> Iterator[tuple[HassInstance, ProviderProcess]]:
    """Run the demo provider and a fresh Home Assistant; stop both afterwards."""
    hass_port = pick_port(PREFERRED_HASS_PORT)
    provider_port = pick_port(PREFERRED_PROVIDER_PORT, taken=[hass_port])
    hass = HassInstance(work_dir / "config", hass_port, with_integration=True, name="Home")
    provider = demo_provider(work_dir / "provider", provider_port, hass.url)
    try:
        say(f"starting the demo identity provider on http://{LOOPBACK}:{provider_port}")
        provider.start()
        say(f"starting Home Assistant on {hass.url}")
        hass.write_config()
        hass.start()
        yield hass, provider
    finally:
        hass.stop()
        provider.stop()


def take_all(output: Path, work_dir: Path) -> None:
    """Start everything, drive Chromium through the setup and the login, save the pictures."""
    output.mkdir(parents=True, exist_ok=True)
    with running_stack(work_dir) as (hass, provider), sync_playwright() as playwright:
        expect.set_options(timeout=TIMEOUT_MS)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="en-US", timezone_id="UTC", viewport=VIEWPORT)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            camera = Camera(page, output)
            owner_login(page, hass)
            shoot_failed_check(page, hass, camera)
            shoot_setup(page, hass, provider, camera)
            shoot_login(page, hass, camera)
            shoot_management(page, hass, camera)
            check_removal(page, hass)
        finally:
            browser.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/screenshots",
        description="Regenerate the documentation's screenshots with a real Home Assistant, "
        "the demo identity provider and Chromium.",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder to write to")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Take every screenshot; return the exit code."""
    args = parse_args(argv)
    if not Path(CHROMIUM).is_file():
        say(f"error: Chromium not found at {CHROMIUM}: run scripts/setup or set CHROMIUM_PATH")
        return 1
    try:
        readme_backup_login_url(README_HASS_URL)
        faq_password_command("user-id", SSO_USER, "password")
    except DocError as err:
        say(f"error: {err}")
        return 1
    began = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="auth_oidc-screenshots-"))
    try:
        take_all(args.output.resolve(), work_dir)
    finally:
        if args.keep:
            say(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    say(f"done in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
