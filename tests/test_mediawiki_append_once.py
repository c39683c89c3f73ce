"""MediaWikiClient.append_once against the real sandbox wiki behind a fault-injecting proxy.

An append that failed in transit may still have reached the wiki; trying it again blindly
adds the text twice (CI found one public statement twice on the public log page). Each test
scripts one fault for the first ``action=edit`` POST the proxy sees and checks that the text
is on the page exactly once.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web

from casework.mediawiki import MediaWikiClient
from deploy.sandbox_wiki import SandboxWiki

FORWARDED = {"cookie", "content-type", "user-agent"}
TIMEOUT = 5.0


class Fault(enum.Enum):
    ANSWER_LOST = "forward, then drop the connection without answering"
    FAILED_AFTER = "forward, then answer 503"
    REFUSED = "answer 503 without forwarding"
    LATE = "forward only after holding the request for HOLD seconds"


HOLD = 3.0


@dataclass
class Upstream:
    status: int
    body: bytes
    content_type: str
    cookies: list[str]


class FaultyProxy:
    """A reverse proxy to the wiki that applies ``fault`` to the first edit POST after ``arm``."""

    def __init__(self, wiki_url: str) -> None:
        self.wiki_url = wiki_url
        self.api_url = ""  # the proxy's own, once it listens
        self.fault: Fault | None = None
        self.edits_seen = 0
        self.edits_forwarded = 0
        self._http: aiohttp.ClientSession | None = None
        self._forwards: set[asyncio.Task[Upstream]] = set()

    def arm(self, fault: Fault) -> None:
        self.fault = fault
        self.edits_seen = self.edits_forwarded = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        is_edit = request.method == "POST" and parse_qs(body.decode()).get("action") == ["edit"]
        fault = None
        if is_edit:
            self.edits_seen += 1
            fault, self.fault = self.fault, None
        if fault is Fault.REFUSED:
            return web.Response(status=503, text="refused before the wiki")
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        hold = HOLD if fault is Fault.LATE else 0.0
        # Its own task: the wiki gets the request even when the client has gone away.
        forward = asyncio.create_task(
            self._forward(request.method, request.path_qs, body, headers, hold, is_edit)
        )
        self._forwards.add(forward)
        forward.add_done_callback(self._forwards.discard)
        upstream = await asyncio.shield(forward)
        if fault is Fault.ANSWER_LOST:
            assert request.transport is not None
            request.transport.close()  # the wiki did the edit; the client hears nothing
            return web.Response()
        if fault is Fault.FAILED_AFTER:
            return web.Response(status=503, text="failed after the wiki answered")
        response = web.Response(status=upstream.status, body=upstream.body)
        response.content_type = upstream.content_type
        for cookie in upstream.cookies:
            response.headers.add("Set-Cookie", cookie)
        return response

    async def _forward(
        self,
        method: str,
        path_qs: str,
        body: bytes,
        headers: dict[str, str],
        hold: float,
        is_edit: bool,
    ) -> Upstream:
        if hold:
            await asyncio.sleep(hold)  # wait-ok: the scripted fault: reach the wiki late
        if is_edit:
            self.edits_forwarded += 1
        assert self._http is not None
        async with self._http.request(
            method, self.wiki_url + path_qs, data=body, headers=headers
        ) as upstream:
            return Upstream(
                upstream.status,
                await upstream.read(),
                upstream.content_type,
                upstream.headers.getall("Set-Cookie", []),
            )

    async def finish(self) -> None:
        """Wait for requests still on their way to the wiki (a held edit)."""
        await asyncio.gather(*self._forwards, return_exceptions=True)


@pytest.fixture
async def proxy(fresh_wiki: SandboxWiki) -> AsyncIterator[FaultyProxy]:
    faulty = FaultyProxy(fresh_wiki.url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", faulty.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    faulty.api_url = f"http://{host}:{port}/api.php"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        faulty._http = http
        try:
            yield faulty
        finally:
            await faulty.finish()
            await runner.cleanup()


@asynccontextmanager
async def client_via(
    proxy: FaultyProxy, wiki: SandboxWiki, *, timeout: float = TIMEOUT
) -> AsyncIterator[MediaWikiClient]:
    """The role account's client, through the proxy, with fast retries."""
    async with MediaWikiClient(
        proxy.api_url,
        *wiki.credentials(),
        timeout=timeout,
        retry_attempts=3,
        retry_initial_wait=0.01,
        retry_max_wait=0.05,
    ) as client:
        yield client


async def seeded(client: MediaWikiClient) -> tuple[str, str]:
    """A new page (made before the proxy is armed) and a line to append to it."""
    title = f"Office actions/Log/{uuid.uuid4().hex}"
    await client.edit(title, text="Public log of office actions.", summary="start the log")
    return title, f"\n* Statement {uuid.uuid4().hex}."


async def appearances(client: MediaWikiClient, title: str, line: str) -> int:
    page = await client.page(title)
    assert page is not None
    return page.text.count(line.strip())


async def test_answer_lost_after_the_edit_landed(
    proxy: FaultyProxy, fresh_wiki: SandboxWiki, caplog: pytest.LogCaptureFixture
) -> None:
    """The wiki made the edit and the connection dropped before its answer: append_once
    finds the edit it made and does not send it again."""
    async with client_via(proxy, fresh_wiki) as client:
        title, line = await seeded(client)
        proxy.arm(Fault.ANSWER_LOST)
        with caplog.at_level(logging.INFO, logger="casework.mediawiki"):
            revid = await client.append_once(title, line, "statement OA-1")
        assert await appearances(client, title, line) == 1
        assert revid == await client.latest_revision(title)
        assert proxy.edits_seen == proxy.edits_forwarded == 1
        assert "landed after all" in caplog.text


async def test_server_error_after_the_edit_landed_is_checked_at_once(
    proxy: FaultyProxy, fresh_wiki: SandboxWiki
) -> None:
    """A 5xx answer after the wiki made the edit: found by looking once, straight away (an
    answer came, so nothing is still running and there is no reason to wait the timeout)."""
    async with client_via(proxy, fresh_wiki, timeout=TIMEOUT) as client:
        title, line = await seeded(client)
        proxy.arm(Fault.FAILED_AFTER)
        started = time.monotonic()
        revid = await client.append_once(title, line, "statement OA-2")
        elapsed = time.monotonic() - started
        assert await appearances(client, title, line) == 1
        assert revid == await client.latest_revision(title)
        assert proxy.edits_seen == proxy.edits_forwarded == 1
        assert elapsed < TIMEOUT * 0.6, elapsed


async def test_refused_before_the_wiki_is_tried_again(
    proxy: FaultyProxy, fresh_wiki: SandboxWiki
) -> None:
    """A 503 from in front of the wiki (the edit never reached it): append_once looks once,
    finds nothing, and (an answer came, so nothing is still running) sends the edit again
    without waiting the timeout; it lands once."""
    async with client_via(proxy, fresh_wiki) as client:
        title, line = await seeded(client)
        before = await client.latest_revision(title)
        proxy.arm(Fault.REFUSED)
        started = time.monotonic()
        revid = await client.append_once(title, line, "statement OA-3")
        assert time.monotonic() - started < TIMEOUT * 0.6
        assert await appearances(client, title, line) == 1
        assert revid == await client.latest_revision(title) > before
        assert (proxy.edits_seen, proxy.edits_forwarded) == (2, 1)


async def test_edit_reaching_the_wiki_after_the_timeout_is_waited_for(
    proxy: FaultyProxy, fresh_wiki: SandboxWiki
) -> None:
    """The client gives up after 2 s, and the wiki only gets the edit at 3 s: append_once
    keeps looking (twice the timeout: until 6 s) and returns that edit instead of
    sending a second one."""
    async with client_via(proxy, fresh_wiki, timeout=2.0) as client:
        title, line = await seeded(client)
        proxy.arm(Fault.LATE)
        revid = await client.append_once(title, line, "statement OA-4")
        assert await appearances(client, title, line) == 1
        assert revid == await client.latest_revision(title)
        assert proxy.edits_seen == proxy.edits_forwarded == 1


async def test_plain_append_after_a_lost_answer_lands_twice(
    proxy: FaultyProxy, fresh_wiki: SandboxWiki, caplog: pytest.LogCaptureFixture
) -> None:
    """The hazard the tests above guard against is real: edit(appendtext=...) goes through
    the transport's generic retry, which sends the same append again after the dropped
    connection (ServerDisconnectedError), and the wiki applies both."""
    async with client_via(proxy, fresh_wiki) as client:
        title, line = await seeded(client)
        proxy.arm(Fault.ANSWER_LOST)
        with caplog.at_level(logging.WARNING, logger="casework.mediawiki"):
            await client.edit(title, appendtext=line, summary="statement OA-5")
        assert "ServerDisconnectedError" in caplog.text
        assert await appearances(client, title, line) == 2
        assert proxy.edits_seen == proxy.edits_forwarded == 2


async def test_an_older_edit_with_the_same_summary_is_not_the_one_that_landed(
    proxy: FaultyProxy, fresh_wiki: SandboxWiki
) -> None:
    """The account made an edit with this summary before: after a refused try, append_once
    must not take that old edit for this one (only edits newer than the page's revision
    before the first try count), so the text is appended, once."""
    async with client_via(proxy, fresh_wiki) as client:
        title, line = await seeded(client)
        summary = "statement OA-6"
        old = await client.edit(title, appendtext="\n* An earlier statement.", summary=summary)
        assert old.newrevid is not None
        proxy.arm(Fault.REFUSED)
        revid = await client.append_once(title, line, summary)
        assert await appearances(client, title, line) == 1
        assert revid == await client.latest_revision(title) > old.newrevid
        assert (proxy.edits_seen, proxy.edits_forwarded) == (2, 1)
