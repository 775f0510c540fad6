"""Fuzz every public endpoint: malformed queries, cookies, headers, bodies and methods.

Hypothesis runs in a worker thread and sends each example through the real aiohttp stack to
Home Assistant with the integration loaded (the test's event loop serves the requests). Every
response must be below 500, carry no secret and no stack trace, and the log must hold no
error from our package or from aiohttp's request handler.

`FUZZ_EXAMPLES` (environment) sets the examples per endpoint (default 40); the requests sent
are printed at the end (`pytest -s`).
"""

import asyncio
import logging
import os
import string
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from custom_components.auth_oidc.pages import STATIC_DIR
from custom_components.auth_oidc.runtime import DATA_DOMAIN
from tests.client_app import REGISTERED_REDIRECT_URI, ClientApp
from tests.fake_provider import FakeProvider
from tests.login_driver import (
    CLIENT_ID,
    REDIRECT_URI,
    Harness,
    authorize_query,
    binding_cookie_name,
    challenge,
    registered_client_query,
    response_secrets,
    setup_harness,
)


async def log_in(harness: Harness) -> None:
    """Log in once, so that tokens exist that must never leak."""
    await harness.login_ok()


pytestmark = [
    pytest.mark.usefixtures("onboarded", "client_id_pages"),
    pytest.mark.harness(frontend=True, after_setup=log_in),
]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
settings.register_profile(
    "auth-oidc-endpoint-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("auth-oidc-endpoint-fuzz")
# Loggers whose ERROR records mean an unhandled exception or a bug of ours.
WATCHED_LOGGERS = ("custom_components.auth_oidc", "aiohttp.server", "aiohttp.web", "aiohttp.access")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
PARAM_NAMES = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "code",
    "iss",
    "error",
    "error_description",
    "code_challenge",
    "code_challenge_method",
    "skip_oidc_redirect",
    "store_token",
    "entry_id",
    "session_state",
    "device_login",
    "login",
    "decision",
    "confirmed",
    "token",
)
# Replaced by the config entry id when a request is sent, so forms can reach deep paths.
ENTRY_ID = "ENTRYIDPLACEHOLDER"
EVIL_URLS = (
    "https://evil.example.net/",
    "//evil.example.net",
    "/\\evil.example.net",
    "https://ha.example.com@evil.example.net/",
    "javascript:alert(1)",
    "data:text/html;base64,PGgxPg==",
    "http://127.0.0.1:1/",
    "https://ha.example.com/?auth_callback=1#frag",
)
SAFE_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=64)
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=80,
)
STYLESHEET = (STATIC_DIR / "login.css").read_bytes()
RAW_QUERY_ALPHABET = string.ascii_letters + string.digits + "%=&;+-._~!$'()*,/:@?[]"


@dataclass
class FuzzRequest:
    """One request: method, path, raw query string, headers and an optional body."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class FuzzStats:
    """How many requests each endpoint received, and the statuses seen."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def count(self, endpoint: str, status: int) -> None:
        """Count one response (-1: the client library refused to send the request)."""
        self.statuses.setdefault(endpoint, Counter())[status] += 1

    def summary(self, endpoint: str) -> str:
        """Describe the requests sent to one endpoint."""
        statuses = self.statuses.get(endpoint, Counter())
        counts = dict(sorted(statuses.items()))
        return f"fuzz {endpoint}: {statuses.total()} requests, statuses {counts}"


STATS = FuzzStats()


# -- strategies ---------------------------------------------------------------------------


def param_value() -> st.SearchStrategy[str]:
    """Return parameter values: valid ones, hostile URLs, junk, long and empty strings."""
    return st.one_of(
        st.sampled_from(
            [CLIENT_ID, REDIRECT_URI, "code", "S256", "plain", "true", challenge(), ENTRY_ID]
        ),
        st.sampled_from(["ABCD-EFGH", "abcd efgh", "2345-6789", "approve", "deny", "yes"]),
        st.sampled_from(EVIL_URLS),
        SAFE_TEXT,
        st.integers(0, 5000).map(lambda n: "x" * n),
        st.just(""),
    )


def near_valid_pairs() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Return a valid authorize request (plus entry_id) with a few parameters edited."""
    base = [*authorize_query().items(), ("entry_id", ENTRY_ID)]
    edit = st.tuples(
        st.sampled_from(["drop", "replace", "repeat", "add"]),
        st.sampled_from(PARAM_NAMES),
        param_value(),
    )

    def apply(edits: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
        pairs = list(base)
        for action, name, value in edits:
            if action == "drop":
                pairs = [pair for pair in pairs if pair[0] != name]
            elif action == "replace":
                pairs = [(key, value if key == name else old) for key, old in pairs]
            elif action == "repeat":
                pairs.append((name, value))
            else:
                pairs = [pair for pair in pairs if pair[0] != name] + [(name, value)]
        return pairs

    return st.lists(edit, max_size=3).map(apply)


def query_pairs() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Return query parameters: near-valid requests, or names and values at random."""
    name = st.one_of(st.sampled_from(PARAM_NAMES), SAFE_TEXT)
    return st.one_of(near_valid_pairs(), st.lists(st.tuples(name, param_value()), max_size=10))


def raw_query() -> st.SearchStrategy[str]:
    """Return a query string: well encoded pairs, or raw percent-junk."""
    return st.one_of(
        query_pairs().map(urlencode),
        st.text(alphabet=RAW_QUERY_ALPHABET, max_size=200),
        st.lists(
            st.sampled_from(["%", "%z", "%zz", "%00", "%ff", "&", "=", ";", "+", "a"]), max_size=40
        ).map("".join),
    )


def cookie_header() -> st.SearchStrategy[str]:
    """Return Cookie headers: binding-cookie look-alikes, junk and broken syntax."""
    cookie = st.one_of(
        st.tuples(
            st.one_of(
                st.sampled_from(["auth_oidc_binding", binding_cookie_name("state")]),
                st.text(alphabet=string.ascii_letters + "_-", min_size=1, max_size=30),
            ),
            st.text(alphabet=string.ascii_letters + string.digits + '-_="', max_size=60),
        ).map(lambda pair: f"{pair[0]}={pair[1]}"),
        HEADER_TEXT,
    )
    return st.lists(cookie, max_size=6).map("; ".join)


def headers() -> st.SearchStrategy[dict[str, str]]:
    """Return request headers a hostile client controls."""
    names = st.sampled_from(
        [
            "Accept-Language",
            "Referer",
            "Origin",
            "User-Agent",
            "Sec-Fetch-Site",
            "X-Forwarded-Proto",
            "X-Forwarded-Host",
            "Accept",
        ]
    )
    values = st.one_of(
        HEADER_TEXT,
        st.sampled_from(["en;q=nan, de;q=1e999, *;q=-1", "x" * 4000, "https://evil.example.net"]),
    )
    return st.tuples(st.dictionaries(names, values, max_size=5), st.none() | cookie_header()).map(
        lambda found: {**found[0], "Cookie": found[1]} if found[1] is not None else found[0]
    )


def form_body() -> st.SearchStrategy[tuple[str, bytes]]:
    """Return (content type, body) pairs a form post may carry (valid UTF-8 only)."""
    form = query_pairs().map(lambda pairs: urlencode(pairs).encode())
    return st.one_of(
        st.tuples(st.just("application/x-www-form-urlencoded"), form),
        st.tuples(st.just("application/x-www-form-urlencoded; charset=utf-8"), form),
        st.tuples(
            st.just("application/json"), st.just(b'{"client_id": "https://ha.example.com/"}')
        ),
        st.tuples(st.just("text/plain"), SAFE_TEXT.map(str.encode)),
        st.tuples(st.just("application/octet-stream"), st.binary(max_size=200)),
    )


def fuzz_request(path: st.SearchStrategy[str], usual_method: str) -> st.SearchStrategy[FuzzRequest]:
    """Return requests to `path`, mostly with its usual method."""
    method = st.one_of(st.just(usual_method), st.just(usual_method), st.sampled_from(METHODS))

    def build(
        values: tuple[str, str, str, dict[str, str], tuple[str, bytes] | None],
    ) -> FuzzRequest:
        verb, url_path, query, request_headers, body = values
        request = FuzzRequest(
            method=verb, path=url_path, query=query, headers=dict(request_headers)
        )
        if body is not None and verb not in ("GET", "HEAD", "OPTIONS"):
            request.headers["Content-Type"], request.body = body
        return request

    return st.tuples(method, path, raw_query(), headers(), st.none() | form_body()).map(build)


STATIC_PATHS = st.one_of(
    st.sampled_from(
        [
            "login.css",
            "../browser_views.py",
            "..%2fbrowser_views.py",
            "%2e%2e/%2e%2e/const.py",
            "..%5c..%5cconst.py",
            "./login.css",
            "login.css/",
            "login.css%00.py",
            "",
            "%",
            "..",
            "static/../../manifest.json",
        ]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + "./%~-_", max_size=40),
).map(lambda tail: "/auth/oidc/static/" + tail)

ENDPOINTS: dict[str, st.SearchStrategy[FuzzRequest]] = {
    "authorize": fuzz_request(st.just("/auth/authorize"), "GET"),
    "providers": fuzz_request(st.just("/auth/providers"), "GET"),
    "welcome": fuzz_request(st.just("/auth/oidc/welcome"), "GET"),
    "redirect": fuzz_request(st.just("/auth/oidc/redirect"), "POST"),
    "callback": fuzz_request(st.just("/auth/oidc/callback"), "GET"),
    "static": fuzz_request(STATIC_PATHS, "GET"),
    # Cross-device login (device_views.py module docstring).
    "device": fuzz_request(st.just("/auth/oidc/device"), "POST"),
    "device-confirm": fuzz_request(st.just("/auth/oidc/device/confirm"), "POST"),
    "device-wait": fuzz_request(st.just("/auth/oidc/device/wait"), "GET"),
    "device-events": fuzz_request(st.just("/auth/oidc/device/events"), "GET"),
}


# -- driver ---------------------------------------------------------------------------------


def secrets_of(harness: Harness) -> list[str]:
    """Return what no response may contain: client secret, tokens, pending PKCE verifiers."""
    secrets = response_secrets(harness.provider)
    pending = harness.hass.data[DATA_DOMAIN].pending_logins
    for login in list(getattr(pending, "_items", {}).values()):
        if login.authorization.code_verifier:
            secrets.append(login.authorization.code_verifier)
    return secrets


async def send(harness: Harness, request: FuzzRequest) -> tuple[int, bytes, str]:
    """Send one raw request; return status, body and all response headers as text."""
    base = harness.client.make_url("/")
    path = quote(request.path, safe="/%:@!$&'()*+,;=~")
    query = request.query.replace(ENTRY_ID, harness.entry_id)
    payload = (
        request.body.replace(ENTRY_ID.encode(), harness.entry_id.encode()) if request.body else None
    )
    url = URL(f"{str(base).rstrip('/')}{path}" + (f"?{query}" if query else ""), encoded=True)
    async with harness.client.session.request(
        request.method,
        url,
        headers=request.headers,
        data=payload,
        allow_redirects=False,
    ) as response:
        body = await response.read()
        header_text = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
        return response.status, body, header_text


def check_response(
    harness: Harness, endpoint: str, status: int, body: bytes, header_text: str
) -> None:
    """Assert the invariants every response keeps."""
    STATS.count(endpoint, status)
    assert status < 500, (endpoint, status, body[:500])
    text = body.decode(errors="replace")
    assert "Traceback" not in text
    for secret in secrets_of(harness):
        assert secret not in text
        assert secret not in header_text
    if endpoint == "static" and status == 200 and body:
        # Only the stylesheet is ever served: no traversal out of the static directory.
        assert body == STYLESHEET


def run_fuzz(loop: asyncio.AbstractEventLoop, harness: Harness, endpoint: str) -> None:
    """Run hypothesis for one endpoint in this worker thread, requests on the test's loop."""

    @FUZZ
    @given(request=ENDPOINTS[endpoint])
    def example(request: FuzzRequest) -> None:
        try:
            status, body, header_text = asyncio.run_coroutine_threadsafe(
                send(harness, request), loop
            ).result(timeout=30)
        except aiohttp.ClientError, ValueError:
            # The client library refused to send it (e.g. an illegal header); nothing to test.
            STATS.count(endpoint, -1)
            return
        check_response(harness, endpoint, status, body, header_text)

    example()


def watched_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return ERROR records from our package and aiohttp's handler."""
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR and record.name.startswith(WATCHED_LOGGERS)
    ]


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_fuzz_endpoint(
    harness: Harness, caplog: pytest.LogCaptureFixture, endpoint: str
) -> None:
    caplog.set_level(logging.WARNING)
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz") as pool:
        await loop.run_in_executor(pool, run_fuzz, loop, harness, endpoint)
    assert not watched_errors(caplog)
    # The integration still works after the fuzzing.
    await harness.login_ok()
    print("\n" + STATS.summary(endpoint))


def callback_extra(issuer: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Return the rest of a callback query: often the right iss and a code, junk elsewhere."""
    maybe_iss: st.SearchStrategy[list[tuple[str, str]]] = st.one_of(
        st.just([("iss", issuer)]), st.just([])
    )
    maybe_code: st.SearchStrategy[list[tuple[str, str]]] = st.one_of(
        param_value().map(lambda code: [("code", code)]), st.just([])
    )
    junk = st.lists(
        st.tuples(
            st.sampled_from(["code", "iss", "error", "error_description", "x"]), param_value()
        ),
        max_size=3,
    )
    return st.tuples(maybe_iss, maybe_code, junk).map(
        lambda parts: [*parts[0], *parts[1], *parts[2]]
    )


async def test_fuzz_callback_with_live_pending_logins(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Fuzz the callback behind a real pending login: its state, maybe its cookie, junk rest."""
    caplog.set_level(logging.WARNING)
    loop = asyncio.get_running_loop()
    token_calls = harness.provider.requests["token"]

    async def start() -> tuple[str, str]:
        query = await harness.start_at_provider()
        state = query["state"]
        return state, harness.client.session.cookie_jar.filter_cookies(
            harness.client.make_url("/auth/oidc/callback")
        )[binding_cookie_name(state)].value

    @FUZZ
    @given(
        extra=callback_extra(harness.provider.issuer),
        keep_cookie=st.booleans(),
        cookie_junk=st.one_of(st.none(), st.text(alphabet=string.ascii_letters, max_size=50)),
        request_headers=headers(),
    )
    def example(
        extra: list[tuple[str, str]],
        keep_cookie: bool,
        cookie_junk: str | None,
        request_headers: dict[str, str],
    ) -> None:
        state, cookie = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
        pairs = [("state", state), *extra]
        request_headers = {k: v for k, v in request_headers.items() if k != "Cookie"}
        if keep_cookie:
            request_headers["Cookie"] = f"{binding_cookie_name(state)}={cookie_junk or cookie}"
        request = FuzzRequest("GET", "/auth/oidc/callback", urlencode(pairs), request_headers)
        harness.client.session.cookie_jar.clear()
        try:
            status, body, header_text = asyncio.run_coroutine_threadsafe(
                send(harness, request), loop
            ).result(timeout=30)
        except aiohttp.ClientError, ValueError:
            STATS.count("callback-live", -1)
            return
        check_response(harness, "callback-live", status, body, header_text)
        if status == 302:
            # Only a genuine code from the provider can reach the client's redirect_uri.
            pytest.fail(f"fuzzed callback was accepted: {pairs}")

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz") as pool:
        await loop.run_in_executor(pool, example)
    assert not watched_errors(caplog)
    assert len(harness.issued_codes) == 1  # the login of the fixture only
    assert harness.provider.requests["token"] >= token_calls
    print("\n" + STATS.summary("callback-live"))


def origin(url: str) -> tuple[str, str] | None:
    """Return a URL's scheme and host[:port] as written, or None when it does not parse."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.scheme, parts.netloc


def near_registered(registered: str) -> st.SearchStrategy[str]:
    """Return redirect URIs: the registered one, look-alikes of it, and junk."""
    parts = urlsplit(registered)
    look_alikes = [
        registered.upper(),
        registered.replace("https://", "http://"),
        registered.replace(parts.netloc, parts.netloc.upper()),
        registered.replace(parts.netloc, parts.netloc + ":443"),
        registered.replace(parts.netloc, parts.netloc + "."),
        registered.replace(parts.path, parts.path.replace("/", "/./", 1)),
        registered.replace(parts.path, quote(parts.path, safe="")),
        registered.replace("https://", "https://user@"),
        registered + "#",
        registered + "?",
        " " + registered,
    ]
    return st.one_of(
        st.just(registered),
        st.sampled_from(look_alikes),
        st.text(alphabet=RAW_QUERY_ALPHABET + "#\\ ", max_size=12).map(
            lambda tail: registered + tail
        ),
        st.sampled_from(EVIL_URLS),
        SAFE_TEXT,
    )


async def test_fuzz_redirect_uri_of_a_registering_client(
    harness: Harness, registered_client: ClientApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the exact redirect URI the client's page registers is accepted on another origin."""
    caplog.set_level(logging.WARNING)
    loop = asyncio.get_running_loop()
    client_origin = origin(registered_client.client_id)

    @FUZZ
    @given(redirect_uri=near_registered(REGISTERED_REDIRECT_URI))
    def example(redirect_uri: str) -> None:
        query = {**registered_client_query(registered_client), "redirect_uri": redirect_uri}
        request = FuzzRequest("GET", "/auth/oidc/welcome", urlencode(query))
        status, body, header_text = asyncio.run_coroutine_threadsafe(
            send(harness, request), loop
        ).result(timeout=30)
        check_response(harness, "welcome-registered-client", status, body, header_text)
        # Home Assistant's rule: the client's own origin, or exactly a registered URI.
        accepted = redirect_uri == REGISTERED_REDIRECT_URI or origin(redirect_uri) == client_origin
        assert status == (200 if accepted else 400), (redirect_uri, status, body[:300])

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz") as pool:
        await loop.run_in_executor(pool, example)
    assert not watched_errors(caplog)
    assert registered_client.fetches > 0
    print("\n" + STATS.summary("welcome-registered-client"))


FORM_ENDPOINTS = ("/auth/oidc/redirect", "/auth/oidc/device", "/auth/oidc/device/confirm")
MALFORMED_BODIES = [
    pytest.param("multipart/form-data", b"--x\r\n", id="multipart-without-boundary"),
    pytest.param(
        "multipart/form-data; boundary=x",
        b"--x\r\nfoo\r\n\r\nbar\r\n--x--\r\n",
        id="multipart-bad-part-header",
    ),
    pytest.param("application/x-www-form-urlencoded", b"client_id=\xff\xfe", id="form-not-utf8"),
    pytest.param(
        "application/x-www-form-urlencoded; charset=no-such-charset",
        b"a=b",
        id="form-unknown-charset",
    ),
]


@pytest.mark.parametrize(("content_type", "body"), MALFORMED_BODIES)
async def test_malformed_form_body_is_a_400_page(
    hass: Any,
    hass_client_no_auth: Any,
    caplog: pytest.LogCaptureFixture,
    content_type: str,
    body: bytes,
) -> None:
    async with FakeProvider.running(alg="ES256") as provider:
        harness = await setup_harness(hass, hass_client_no_auth, provider)
        for path in FORM_ENDPOINTS:
            response = await harness.client.post(
                path, data=body, headers={"Content-Type": content_type}
            )
            assert response.status == 400, path
    assert not watched_errors(caplog)
