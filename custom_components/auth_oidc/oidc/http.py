"""Bounded HTTP requests to the provider, with failures mapped to `OIDCError` codes."""

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import urlencode

import aiohttp

from ._json import JSONObjectError, loads_object
from .errors import ErrorCode, OIDCError

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_MAX_RESPONSE_BYTES: Final = 1024 * 1024
_CHUNK_SIZE: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class FailureCodes:
    """The error class and codes one protocol step reports for transport failures."""

    error: type[OIDCError]
    unreachable: ErrorCode
    tls: ErrorCode
    http_status: ErrorCode
    not_json: ErrorCode


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """A fully read, size-limited response."""

    status: int
    content_type: str
    url: str
    body: bytes = field(repr=False)

    @property
    def ok(self) -> bool:
        """Return whether the status is 2xx."""
        return 200 <= self.status < 300


async def send_request(
    session: aiohttp.ClientSession,
    method: Literal["GET", "POST"],
    url: str,
    *,
    failures: FailureCodes,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - applied per request as ClientTimeout
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    max_redirects: int = 0,
    headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> HTTPResponse:
    """Send one request and read at most `max_bytes` of the response body.

    `ssl_context` replaces the session's default certificate verification, e.g. to trust a
    private CA.
    """
    request_headers = {"Accept": "application/json", **(headers or {})}
    body: str | None = None
    if form is not None:
        request_headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(form)
    try:
        async with session.request(
            method,
            url,
            headers=request_headers,
            data=body,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=max_redirects > 0,
            max_redirects=max(max_redirects, 1),
            ssl=ssl_context if ssl_context is not None else True,
        ) as response:
            content = await _read_limited(response, max_bytes, failures)
            _LOGGER.debug("%s %s -> HTTP %s", method, url, response.status)
            return HTTPResponse(
                status=response.status,
                content_type=response.content_type,
                url=str(response.url),
                body=content,
            )
    except TimeoutError as err:
        raise failures.error(ErrorCode.TIMEOUT, f"{method} {url} timed out") from err
    except aiohttp.TooManyRedirects as err:
        raise failures.error(failures.http_status, f"{method} {url}: too many redirects") from err
    except (aiohttp.ClientSSLError, ssl.SSLError) as err:
        raise failures.error(failures.tls, f"{method} {url}: TLS failure: {err}") from err
    except (aiohttp.ClientError, OSError) as err:
        raise failures.error(failures.unreachable, f"{method} {url}: {type(err).__name__}") from err


async def _read_limited(
    response: aiohttp.ClientResponse, max_bytes: int, failures: FailureCodes
) -> bytes:
    """Read the body in chunks, refusing to buffer more than `max_bytes`."""
    detail = f"response from {response.url} exceeds {max_bytes} bytes"
    if response.content_length is not None and response.content_length > max_bytes:
        raise failures.error(ErrorCode.RESPONSE_TOO_LARGE, detail)
    content = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK_SIZE):
        content += chunk
        if len(content) > max_bytes:
            raise failures.error(ErrorCode.RESPONSE_TOO_LARGE, detail)
    return bytes(content)


def raise_for_status(response: HTTPResponse, failures: FailureCodes) -> None:
    """Raise the area's `http_status` error unless the response is 2xx."""
    if not response.ok:
        raise failures.error(failures.http_status, f"HTTP {response.status} from {response.url}")


def decode_json_object(response: HTTPResponse, failures: FailureCodes) -> dict[str, object]:
    """Return the body parsed as a JSON object, or raise the area's `not_json` error."""
    try:
        return loads_object(response.body)
    except JSONObjectError as err:
        raise failures.error(failures.not_json, f"{response.url}: {err}") from err
