"""Tests for the bounded HTTP helper."""

import asyncio

import pytest
from aiohttp import web

from custom_components.auth_oidc.oidc import DiscoveryError, ErrorCode
from custom_components.auth_oidc.oidc.http import FailureCodes, send_request

FAILURES = FailureCodes(
    error=DiscoveryError,
    unreachable=ErrorCode.DISCOVERY_UNREACHABLE,
    tls=ErrorCode.DISCOVERY_TLS,
    http_status=ErrorCode.DISCOVERY_HTTP_STATUS,
    not_json=ErrorCode.DISCOVERY_NOT_JSON,
)


async def test_declared_oversize_is_refused_before_the_body_arrives(session) -> None:
    release = asyncio.Event()

    async def stalling(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 2 * 1024 * 1024
        await response.prepare(request)
        await response.write(b"{")
        await release.wait()
        return response

    app = web.Application()
    app.router.add_get("/", stalling)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        with pytest.raises(DiscoveryError) as caught:
            await send_request(session, "GET", url, failures=FAILURES, timeout=5)
    finally:
        release.set()
        await runner.cleanup()
    assert caught.value.code == "response_too_large"


async def test_small_limits_apply(session, provider) -> None:
    response = await send_request(
        session, "GET", provider.discovery_url, failures=FAILURES, max_bytes=100_000
    )
    assert response.ok
    with pytest.raises(DiscoveryError) as caught:
        await send_request(session, "GET", provider.discovery_url, failures=FAILURES, max_bytes=10)
    assert caught.value.code == "response_too_large"
