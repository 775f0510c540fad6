"""Share the login pages' plumbing: page errors, parameters, forms, cookies, redirects.

Every view of the single sign-on (browser_views.py, device_views.py) reads its input and
renders its failures through this module, so that bad input always gets a translated page
(4xx), never a stack trace.
"""

import hashlib
from enum import StrEnum, auto
from http import HTTPStatus
from ipaddress import ip_address
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import KEY_HASS
from homeassistant.helpers.network import is_hass_url
from homeassistant.util.network import is_local
from multidict import MultiDict, MultiMapping
from yarl import URL

from .const import (
    AUTHORIZE_PATH,
    DEVICE_LOGIN_PARAM,
    DEVICE_PATH,
    DEVICE_WAITING_COOKIE,
    SKIP_REDIRECT_PARAM,
    WELCOME_PATH,
)
from .device_login import COMPANION_APP_CLIENTS, DEVICE_LOGIN_TTL, DeviceLogin
from .hass_auth import verify_client_id, verify_redirect_uri
from .login_clients import ClaimInspection, ClientRequest, DeviceApproval, LoginClient
from .runtime import DATA_DOMAIN, OIDCConfigEntry, loaded_entries

MAX_PARAM_LENGTH = 2048
MAX_FORM_BYTES = 16 * 1024


class LoginPageReason(StrEnum):
    """Why a login page failed; each value is a key of `errors` in page_translations/<lang>.json."""

    INVALID_REQUEST = auto()
    INVALID_REDIRECT_URI = auto()
    LOGIN_EXPIRED = auto()
    PROVIDER_UNAVAILABLE = auto()
    PROVIDER_INSECURE = auto()
    ACCESS_DENIED = auto()
    PROVIDER_ERROR = auto()
    VERIFICATION_FAILED = auto()
    NOT_ALLOWED = auto()
    GROUPS_UNREADABLE = auto()
    ACCOUNT_DISABLED = auto()
    ACCOUNT_LOCAL_ONLY = auto()
    ACCOUNT_LOCAL_ONLY_CLOUD = auto()
    ACCOUNT_NOT_ALLOWED = auto()
    DEVICE_DENIED = auto()
    CLIENT_REJECTED = auto()
    INSPECT_LINK_EXPIRED = auto()


class LoginPageError(Exception):
    """A login failure to show to the user as a translated page."""

    def __init__(
        self,
        reason: LoginPageReason,
        *,
        detail: str = "",
        status: HTTPStatus = HTTPStatus.BAD_REQUEST,
        counted: bool = True,
        account: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """Describe the failure by a translation key, a technical detail and who, when known."""
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.status = status
        # Whether a refused callback counts as a failed login for Home Assistant's IP ban.
        self.counted = counted
        self.account = account
        self.user_id = user_id


def optional_param(params: MultiMapping[str], name: str) -> str | None:
    """Return a parameter given at most once and of bounded length; empty counts as absent."""
    values = params.getall(name, [])
    if len(values) > 1 or any(len(value) > MAX_PARAM_LENGTH for value in values):
        # RFC 6749 §3.1: request parameters must not be included more than once.
        raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail=f"malformed parameter {name}")
    return values[0] if values and values[0] else None


def required_param(params: MultiMapping[str], name: str) -> str:
    """Return a parameter that must be given exactly once."""
    if (value := optional_param(params, name)) is None:
        raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail=f"missing parameter {name}")
    return value


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    """Return a URL's origin (scheme, host, port with the default filled in)."""
    return (url.scheme, url.host, url.port)


def is_frontend_client(request: web.Request, client: ClientRequest) -> bool:
    """Tell whether the client is this Home Assistant's own web frontend, by its origin."""
    hass = request.app[KEY_HASS]
    try:
        client_url, redirect = URL(client.client_id), URL(client.redirect_uri)
    except ValueError:
        return False
    if client_url.path != "/" or _origin(client_url) != _origin(redirect):
        return False
    if "auth_callback=1" not in redirect.raw_query_string.split("&"):
        return False
    # The shape alone proves nothing (anyone can host "/?auth_callback=1"): the client must
    # be this Home Assistant's origin as the browser reached it (after Home Assistant's
    # forwarded middleware), or one of its configured URLs (internal, external, cloud).
    own = {_origin(request.url), _origin(public_origin(request, loaded_entries(hass)))}
    return _origin(client_url) in own or is_hass_url(hass, client.client_id)


async def parse_client_request(hass: HomeAssistant, params: MultiMapping[str]) -> ClientRequest:
    """Validate a client's authorize request exactly as Home Assistant's login would."""
    if optional_param(params, "response_type") not in (None, "code"):
        # RFC 6749 §4.1.1: only the authorization code grant.
        raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail="unsupported response_type")
    client_id = required_param(params, "client_id")
    redirect_uri = required_param(params, "redirect_uri")
    state = optional_param(params, "state")
    code_challenge = optional_param(params, "code_challenge")
    code_challenge_method = optional_param(params, "code_challenge_method")
    if code_challenge_method is not None and code_challenge is None:
        raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail="code_challenge missing")
    if code_challenge is not None and code_challenge_method != "S256":
        # RFC 7636 §4.3 / RFC 9700 §2.1.1: S256 only, no "plain".
        raise LoginPageError(
            LoginPageReason.INVALID_REQUEST, detail="code_challenge_method must be S256"
        )
    if not verify_client_id(client_id):
        raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail="invalid client_id")
    # RFC 6749 §10.6 / RFC 9700 §4.1: never redirect to an unverified URI (no open redirect).
    if not await verify_redirect_uri(
        hass,
        client_id,
        redirect_uri,
        allow_loopback_port_change=code_challenge is not None,
    ):
        raise LoginPageError(
            LoginPageReason.INVALID_REDIRECT_URI, detail="redirect_uri not allowed"
        )
    store_token = optional_param(params, "store_token") == "true"
    return ClientRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        # Honoured only for Home Assistant's own frontend (see hand_off.py).
        store_token=store_token,
    )


def client_query(client: ClientRequest) -> dict[str, str]:
    """Return the authorize query that reproduces the client's request."""
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
    }
    for name, value in (
        ("state", client.state),
        ("code_challenge", client.code_challenge),
        ("code_challenge_method", client.code_challenge_method),
    ):
        if value is not None:
            query[name] = value
    return query


def alternative_login_url(client: ClientRequest | None) -> str:
    """Return Home Assistant's own login page for the client, without our redirect."""
    query = client_query(client) if client else {}
    return f"{AUTHORIZE_PATH}?{urlencode({**query, SKIP_REDIRECT_PARAM: 'true'})}"


def is_companion_app(client: ClientRequest) -> bool:
    """Tell whether the request comes from a Home Assistant companion app (iOS, Android)."""
    return client.client_id in COMPANION_APP_CLIENTS


def device_query(client: ClientRequest) -> dict[str, str]:
    """Return the client's authorize query that asks the welcome page for a device code."""
    query = client_query(client)
    if not is_companion_app(client):
        query[DEVICE_LOGIN_PARAM] = "true"
    return query


def device_cookie_name(prefix: str, login_id: str) -> str:
    """Return the name of a cookie that binds a browser to one cross-device login."""
    return f"{prefix}_{hashlib.sha256(login_id.encode()).hexdigest()[:16]}"


def set_device_cookie(
    request: web.Request,
    response: web.StreamResponse,
    prefix: str,
    login: DeviceLogin,
    value: str,
) -> None:
    """Bind the browser to a cross-device login by a random HttpOnly cookie."""
    waiting = prefix == DEVICE_WAITING_COOKIE
    response.set_cookie(
        device_cookie_name(prefix, login.login_id),
        value,
        max_age=int(DEVICE_LOGIN_TTL),
        # The approver's cookie must also reach our callback, after the provider.
        path=DEVICE_PATH if waiting else "/auth/oidc",
        httponly=True,
        # Strict: the waiting page's own requests are same-site. Lax: the approving browser
        # comes back from the provider by a cross-site top-level GET (RFC 6265bis §8.8).
        samesite="Strict" if waiting else "Lax",
        secure=request.scheme == "https" or forces_https(loaded_entries(request.app[KEY_HASS])),
    )


def public_origin(request: web.Request, entries: list[OIDCConfigEntry]) -> URL:
    """Return this Home Assistant's origin as the browser reaches it (proxy-aware)."""
    url = request.url.with_path("/").with_query(None).with_fragment(None)
    if forces_https(entries):
        url = url.with_scheme("https").with_port(None if url.port in (80, 443) else url.port)
    return url


def forces_https(entries: list[OIDCConfigEntry]) -> bool:
    """Tell whether a provider says browsers reach Home Assistant by https (force_https)."""
    return any(entry.runtime_data.settings.features.force_https for entry in entries)


def is_local_request(request: web.Request) -> bool:
    """Tell whether the request comes from a local network (Home Assistant's definition)."""
    try:
        return is_local(ip_address(request.remote or ""))
    except ValueError:
        return False


def redirect(location: str) -> web.Response:
    """Return a 302 redirect that is never cached and leaks no referrer."""
    return web.Response(
        status=HTTPStatus.FOUND,
        headers={
            "Location": location,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


def error_page(
    request: web.Request,
    error: LoginPageError,
    client: LoginClient | None = None,
) -> web.Response:
    """Render a translated error page with a way back to a working login."""
    hass = request.app[KEY_HASS]
    if isinstance(client, DeviceApproval):
        # The approving browser has no client of its own: back to the code form.
        retry_url, alternative_url = DEVICE_PATH, None
    elif isinstance(client, ClaimInspection):
        # An administrator's test login: back to Home Assistant, where the options are.
        retry_url, alternative_url = "/", None
    else:
        retry_url = f"{WELCOME_PATH}?{urlencode(client_query(client))}" if client else "/"
        alternative_url = alternative_login_url(client)
    return hass.data[DATA_DOMAIN].pages.render(
        hass,
        request,
        "error.html",
        status=error.status,
        reason=error.reason,
        detail=error.detail,
        retry_url=retry_url,
        alternative_url=alternative_url,
    )


def _is_cross_origin(request: web.Request) -> bool:
    """Tell whether a browser says the request comes from another origin (Fetch Metadata)."""
    if (fetch_site := request.headers.get("Sec-Fetch-Site")) is not None:
        # "same-site" includes sibling subdomains (another app on the same domain): refused.
        # "none" is a navigation the user started (no page sent it).
        return fetch_site not in ("same-origin", "none")
    # Browsers without Fetch Metadata: compare the Origin's host and port with ours. The
    # scheme is left out: behind a TLS-terminating proxy the request may look like http.
    # "null" is what a post from our own pages carries under Referrer-Policy: no-referrer.
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() != request.host.lower()


async def read_form(request: web.Request) -> MultiDict[str]:
    """Return the posted form fields; refuse cross-origin posts, uploads, malformed bodies."""
    if _is_cross_origin(request):
        # Login CSRF (RFC 9700 §4.7): our forms are only ever posted from our own pages.
        raise LoginPageError(
            LoginPageReason.INVALID_REQUEST,
            detail="cross-origin form post",
            status=HTTPStatus.FORBIDDEN,
        )
    if request.content_type != "application/x-www-form-urlencoded":
        # Refused before reading: no multipart parsing, no temporary files for uploads.
        raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail="form expected")
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail="form too large")
    try:
        form = await request.post()
    except (ValueError, LookupError, web.HTTPException) as err:
        # Undecodable charset or body: a clear page, not a 500.
        raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail="malformed form") from err
    fields: MultiDict[str] = MultiDict()
    for key, value in form.items():
        if not isinstance(value, str):
            raise LoginPageError(LoginPageReason.INVALID_REQUEST, detail="unexpected upload")
        fields.add(key, value)
    return fields
