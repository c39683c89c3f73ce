"""casework.mediawiki against a real sandbox MediaWiki 1.39 (no mocks of the wiki)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

import aiohttp
import pytest
from aiohttp import web

from casework.mediawiki import BlockInfo, LoginError, MediaWikiClient, MediaWikiError
from deploy.sandbox_wiki import BOT_APP_ID, ROLE_ACCOUNT, SandboxWiki
from tests.fixtures.wiki import free_port

T = TypeVar("T")
CASE_REASON = "Office action: case OA-2024-0042 (see Office actions policy)"


def make_client(api_url: str, username: str, password: str) -> MediaWikiClient:
    """A client whose retries stay fast: 3 attempts, 10-50 ms apart."""
    return MediaWikiClient(
        api_url,
        username,
        password,
        timeout=10,
        retry_attempts=3,
        retry_initial_wait=0.01,
        retry_max_wait=0.05,
    )


@pytest.fixture
async def client(fresh_wiki: SandboxWiki) -> AsyncIterator[MediaWikiClient]:
    async with make_client(fresh_wiki.api_url, *fresh_wiki.credentials()) as c:
        yield c


async def test_login_with_bot_password(client: MediaWikiClient) -> None:
    assert client.username == f"{ROLE_ACCOUNT}@{BOT_APP_ID}"
    await client.login()
    groups = await client.user_groups(ROLE_ACCOUNT)
    assert {"sysop", "bureaucrat", "suppress"} <= set(groups)


async def test_wrong_password_is_a_clear_login_error(sandbox_wiki: SandboxWiki) -> None:
    username, _ = sandbox_wiki.credentials()
    async with make_client(sandbox_wiki.api_url, username, "0" * 32) as c:
        with pytest.raises(LoginError) as caught:
            await c.login()
        assert caught.value.code == "login-failed"
        assert not caught.value.transient
        assert username in caught.value.info
        # A write logs in lazily and fails the same way.
        with pytest.raises(LoginError):
            await c.block("Vandal1", reason=CASE_REASON)


async def test_block_shows_in_active_blocks(client: MediaWikiClient) -> None:
    result = await client.block("Vandal1", reason=CASE_REASON)
    assert result.user == "Vandal1"
    assert result.expiry is None
    assert result.reason == CASE_REASON

    (block,) = await client.active_blocks("Vandal1")
    assert block.id == result.id
    assert block.user == "Vandal1"
    assert block.by == ROLE_ACCOUNT
    assert "OA-2024-0042" in block.reason
    assert block.infinite
    assert block.nocreate and block.autoblock and block.allowusertalk
    assert not (block.partial or block.hidden or block.anononly)
    assert await client.active_blocks("Goodfaith3") == []


async def test_blocking_a_blocked_user_needs_reblock(client: MediaWikiClient) -> None:
    first = await client.block("Harasser2", reason=CASE_REASON)
    with pytest.raises(MediaWikiError) as caught:
        await client.block("Harasser2", reason=CASE_REASON)
    assert caught.value.code == "alreadyblocked"
    assert not caught.value.transient

    # reblock replaces the block and every flag with what this call says.
    second = await client.block(
        "Harasser2", reason="amended", expiry="1 week", autoblock=False, reblock=True
    )
    (block,) = await client.active_blocks("Harasser2")
    assert block.id == second.id
    assert first.expiry is None and block.expiry is not None
    assert block.nocreate and not block.autoblock
    assert block.reason == "amended"


async def test_hidden_block_needs_and_has_suppress_rights(client: MediaWikiClient) -> None:
    await client.block("Harasser2", reason=CASE_REASON, hidename=True)
    (block,) = await client.active_blocks("Harasser2")
    assert block.hidden


async def test_unblock(client: MediaWikiClient) -> None:
    blocked = await client.block("Vandal1", reason=CASE_REASON)
    unblocked = await client.unblock("Vandal1", reason="appeal granted, OA-2024-0042")
    assert unblocked.id == blocked.id
    assert await client.active_blocks("Vandal1") == []
    with pytest.raises(MediaWikiError) as caught:
        await client.unblock("Vandal1", reason="again")
    assert caught.value.code == "cantunblock"


async def test_unknown_user_is_a_permanent_error(client: MediaWikiClient) -> None:
    with pytest.raises(MediaWikiError) as caught:
        await client.block("No such user 7781", reason=CASE_REASON)
    assert caught.value.code == "nosuchuser"
    assert not caught.value.transient
    assert not await client.user_exists("No such user 7781")
    assert not await client.user_exists("Bad#name")
    with pytest.raises(MediaWikiError) as caught:
        await client.user_groups("No such user 7781")
    assert caught.value.code == "nosuchuser"


async def test_user_queries(client: MediaWikiClient) -> None:
    assert await client.user_exists("Goodfaith3")
    assert "sysop" in await client.user_groups("Admin4")
    assert "sysop" not in await client.user_groups("Vandal1")


async def test_edit_and_read_back(client: MediaWikiClient) -> None:
    title = "Office actions/Statements/OA-2024-0042"
    assert await client.page(title) is None

    created = await client.edit(title, text="Statement v1.", summary="OA-42", createonly=True)
    assert created.new and not created.nochange
    assert created.newrevid is not None
    page = await client.page(title)
    assert page is not None
    assert (page.title, page.revid, page.text) == (title, created.newrevid, "Statement v1.")

    appended = await client.edit(title, appendtext="\n\nUpdate.", summary="update")
    assert appended.newrevid is not None and appended.newrevid > created.newrevid
    assert appended.oldrevid == created.newrevid
    page = await client.page(title)
    assert page is not None
    assert page.revid == appended.newrevid
    assert page.text == "Statement v1.\n\nUpdate."

    with pytest.raises(MediaWikiError) as caught:
        await client.edit(title, text="again", summary="s", createonly=True)
    assert caught.value.code == "articleexists"
    with pytest.raises(MediaWikiError) as caught:
        await client.edit("Not there yet", text="x", summary="s", nocreate=True)
    assert caught.value.code == "missingtitle"


async def test_nochange_edit(client: MediaWikiClient) -> None:
    first = await client.edit("Nochange", text="same", summary="s")
    again = await client.edit("Nochange", text="same", summary="s")
    assert again.nochange and again.newrevid is None
    page = await client.page("Nochange")
    assert page is not None and page.revid == first.newrevid


async def test_stale_baserevid_is_an_edit_conflict(client: MediaWikiClient) -> None:
    base = await client.edit("Conflict", text="one", summary="s")
    await client.edit("Conflict", text="two", summary="someone else")
    with pytest.raises(MediaWikiError) as caught:
        await client.edit("Conflict", text="three", summary="s", baserevid=base.newrevid)
    assert caught.value.code == "editconflict"


async def test_invalid_title(client: MediaWikiClient) -> None:
    with pytest.raises(MediaWikiError) as caught:
        await client.page("Bad[title")
    assert caught.value.code == "invalidtitle"


async def test_recovers_from_a_bad_token(client: MediaWikiClient) -> None:
    await client.edit("Token", text="one", summary="s")
    client._csrf_token = "0123456789abcdef0123456789abcdef+\\"  # as if the token had expired
    result = await client.edit("Token", text="two", summary="s")
    assert result.newrevid is not None
    assert client._csrf_token != "0123456789abcdef0123456789abcdef+\\"


async def test_recovers_from_a_lost_session(
    client: MediaWikiClient,
    sandbox_wiki: SandboxWiki,
) -> None:
    await client.edit("Session", text="one", summary="s")
    sandbox_wiki.reset()  # drops every session (and the page) on the wiki side
    assert await client.page("Session") is None  # reads assert=user too
    result = await client.block("Vandal1", reason=CASE_REASON)
    assert (await client.active_blocks("Vandal1"))[0].id == result.id


class FlakyProxy:
    """Answers 503 to the first ``failures`` requests, then forwards to the real wiki."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.upstream = upstream
        self.failures = failures
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=503, text="try again later")
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
            session.request(
                request.method,
                self.upstream + request.path_qs,
                data=await request.read(),
                headers=headers,
            ) as upstream,
        ):
            response = web.Response(status=upstream.status, body=await upstream.read())
            response.content_type = upstream.content_type
            for cookie in upstream.headers.getall("Set-Cookie", []):
                response.headers.add("Set-Cookie", cookie)
            return response


FORWARDED = {"cookie", "content-type", "user-agent"}


async def test_transient_http_errors_are_retried(sandbox_wiki: SandboxWiki) -> None:
    proxy = FlakyProxy(sandbox_wiki.url, failures=2)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        api_url = f"http://127.0.0.1:{port}/api.php"
        async with make_client(api_url, *sandbox_wiki.credentials()) as c:
            page = await c.page("Main Page")
            assert page is not None and page.revid > 0
            assert proxy.requests >= 3  # two 503s, then through to the wiki

            proxy.failures = 10
            with pytest.raises(MediaWikiError) as caught:
                await c.page("Main Page")
            assert caught.value.code == "http-503"
            assert caught.value.transient
    finally:
        await runner.cleanup()


async def test_unreachable_wiki_is_a_transient_error() -> None:
    async with make_client(f"http://127.0.0.1:{free_port()}/api.php", "X@y", "0" * 32) as c:
        with pytest.raises(MediaWikiError) as caught:
            await c.user_exists("Vandal1")
    assert caught.value.code == "network"
    assert caught.value.transient


# --- calls enforcement added: rights, content, logs ------------------------------------------


async def test_userrights_reports_what_it_removed(client: MediaWikiClient) -> None:
    removed = await client.user_rights("Admin4", remove=["sysop"], reason=CASE_REASON)
    assert removed.removed == ["sysop"] and removed.added == []
    # Nothing held, nothing removed: the answer is a success with an empty list.
    again = await client.user_rights("Admin4", remove=["sysop"], reason=CASE_REASON)
    assert again.removed == []
    added = await client.user_rights("Admin4", add=["sysop"], reason="restored")
    assert added.added == ["sysop"]
    assert "sysop" in await client.user_groups("Admin4")


async def test_userrights_token_is_refetched_when_stale(client: MediaWikiClient) -> None:
    await client.user_rights("Admin4", remove=["sysop"], reason=CASE_REASON)
    client._tokens["userrights"] = "0123456789abcdef0123456789abcdef+\\"
    result = await client.user_rights("Admin4", add=["sysop"], reason="restored")
    assert result.added == ["sysop"]


async def test_partial_block_and_unblock_by_id(client: MediaWikiClient) -> None:
    result = await client.block(
        "Harasser2", reason=CASE_REASON, partial=True, pages=["Main Page"], namespaces=[3]
    )
    (block,) = await client.active_blocks("Harasser2")
    assert block.partial and block.id == result.id
    # What a restoration needs to put the same block back.
    assert (block.pages, block.namespaces) == (("Main Page",), (3,))
    await client.unblock(block_id=result.id, reason="lifted")
    assert await client.active_blocks("Harasser2") == []


async def test_protect_delete_hide_and_undo(client: MediaWikiClient) -> None:
    revids = []
    for n in range(3):
        edit = await client.edit("Contested page", text=f"text {n}", summary="setup")
        assert edit.newrevid is not None
        revids.append(edit.newrevid)
    levels = await client.protect(
        "Contested page", protections={"edit": "sysop", "move": "sysop"}, reason=CASE_REASON
    )
    assert {(p.type, p.level) for p in levels} == {("edit", "sysop"), ("move", "sysop")}
    state = await client.page_state("Contested page")
    assert state.exists and {p.level for p in state.protection} == {"sysop"}

    await client.revision_delete(
        kind="revision", ids=[str(revids[0])], hide=["content"], reason=CASE_REASON
    )
    assert (await client.revision_flags([revids[0]]))[revids[0]].texthidden
    current = await client.page("Contested page")  # protecting added a null revision
    assert current is not None and current.revid > revids[-1]
    with pytest.raises(MediaWikiError) as caught:
        await client.revision_delete(
            kind="revision", ids=[str(current.revid)], hide=["content"], reason=CASE_REASON
        )
    assert caught.value.code == "revdelete-hide-current"

    logid = await client.delete("Contested page", reason=CASE_REASON)
    assert not (await client.page_state("Contested page")).exists
    archived = await client.deleted_revisions("Contested page")
    assert {r.revid for r in archived} == {*revids, current.revid}
    entries = await client.log_events(log_type="delete", title="Contested page")
    assert [e.logid for e in entries if e.action == "delete"] == [logid]
    assert entries[-1].user == ROLE_ACCOUNT and "OA-2024-0042" in entries[-1].comment

    assert await client.undelete("Contested page", reason="restored") == 4
    assert (await client.page_state("Contested page")).exists


async def test_protection_levels_each_with_its_own_expiry(client: MediaWikiClient) -> None:
    """What a restoration needs: a community's week-long semi-protection put back until the
    same moment, the other level indefinite."""
    await client.edit("Week page", text="text", summary="setup")
    until = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    await client.protect(
        "Week page",
        protections={"edit": "autoconfirmed", "move": "sysop"},
        expiries={"edit": until.strftime("%Y-%m-%dT%H:%M:%SZ")},
        reason="restoring",
    )
    state = await client.page_state("Week page")
    assert {(p.type, p.level, p.expiry) for p in state.protection} == {
        ("edit", "autoconfirmed", until),
        ("move", "sysop", None),
    }


async def test_log_events_since_are_oldest_first(client: MediaWikiClient) -> None:
    latest = await client.log_events(limit=1)
    since = latest[-1].timestamp if latest else None
    await client.block("Vandal1", reason=CASE_REASON)
    await client.unblock("Vandal1", reason="lifted")
    entries = [e for e in await client.log_events(since=since) if e.type == "block"]
    assert [e.action for e in entries][-2:] == ["block", "unblock"]
    assert entries[-1].title == "User:Vandal1"


async def test_concurrent_block_reads_go_as_lists_and_answer_as_single_reads(
    client: MediaWikiClient,
) -> None:
    await client.block("Vandal1", reason=CASE_REASON)
    await client.block("Harasser2", reason=CASE_REASON, hidename=True)
    names = ["Vandal1", "vandal1", "Harasser2", "Goodfaith3", "Bad#name", "127.0.0.1"]
    names += [f"Nobody {n}" for n in range(60)]  # no such accounts: no blocks
    before = client.block_reads.reads
    together = await asyncio.gather(
        *(client.active_blocks(n) for n in names), return_exceptions=True
    )
    reads = client.block_reads.reads - before
    alone = [await _outcome(_blocks_alone(client, n)) for n in names]
    assert [_comparable(a) for a in together] == [_comparable(a) for a in alone]
    vandal, lowercase, harasser, goodfaith = (cast(list[BlockInfo], b) for b in together[:4])
    assert [b.user for b in vandal] == ["Vandal1"] == [b.user for b in lowercase]
    assert harasser[0].hidden and goodfaith == [] and together[-1] == []
    # 65 listable names: at most 50 a read (the API's limit), so two reads, or three when
    # the read with the invalid name failed and went again name by name.
    assert 2 <= reads <= 3, reads


async def _blocks_alone(client: MediaWikiClient, user: str) -> list[BlockInfo]:
    return (await client._blocks_one(user)).blocks


async def test_a_block_read_carries_the_newest_log_id(client: MediaWikiClient) -> None:
    """The log mark comes with the blocks, in the same read, listed user or not: every
    entry after it (our block included) has a higher id, none before it does."""
    for user in ("Vandal1", "127.0.0.9"):
        before = await client.block_state(user)
        newest = (await client.log_events(limit=1))[-1].logid
        assert before.blocks == [] and before.log_mark == newest
        await client.block(user, reason=CASE_REASON, expiry="1 day")
        after = await client.block_state(user)
        (entry,) = [e for e in await client.log_events(limit=5) if e.logid > before.log_mark]
        assert (entry.type, entry.action) == ("block", "block")
        assert after.log_mark == entry.logid and [b.user for b in after.blocks] == [user]


async def test_a_block_read_past_one_page_goes_on_without_the_log(
    client: MediaWikiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More blocks than a page holds: later pages are list=blocks alone, the mark is the
    first page's (the wiki's own limit is too high to reach here, so the test lowers it)."""
    names = ["Vandal1", "Harasser2", "Goodfaith3"]
    for name in names:
        await client.block(name, reason=CASE_REASON)
    sent: list[dict[str, object]] = []
    read = client._read

    async def one_per_page(params: dict[str, object]) -> dict[str, object]:
        sent.append(params)
        return cast(dict[str, object], await read({**params, "bklimit": "1"}))

    monkeypatch.setattr(client, "_read", one_per_page)
    blocks, mark = await client._block_query("|".join(names))
    assert sorted(b["user"] for b in blocks) == sorted(names)
    assert [p["list"] for p in sent] == ["blocks|logevents", "blocks", "blocks"]
    assert (
        mark
        == (await read({"action": "query", "list": "logevents", "lelimit": "1"}))["query"][
            "logevents"
        ][0]["logid"]
    )


async def _outcome(read: Awaitable[T]) -> T | BaseException:
    try:
        return await read
    except MediaWikiError as exc:
        return exc


def _comparable(outcome: object) -> object:
    return (type(outcome), outcome.code) if isinstance(outcome, MediaWikiError) else outcome


async def test_concurrent_user_reads_go_as_lists_and_answer_as_single_reads(
    client: MediaWikiClient,
) -> None:
    names = ["Admin4", "admin4", "Vandal1", "Goodfaith3", "Bad#name", "No such user 7781"]
    names += [f"Nobody {n}" for n in range(50)]
    before = client.user_reads.reads
    together = await asyncio.gather(*(client.user_groups(n) for n in names), return_exceptions=True)
    exists = await asyncio.gather(*(client.user_exists(n) for n in names))
    reads = client.user_reads.reads - before
    alone = [await _outcome(client.user_groups(n)) for n in names]  # one at a time
    assert [_comparable(a) for a in together] == [_comparable(a) for a in alone]
    assert "sysop" in cast(list[str], together[0]) and together[0] == together[1]
    assert exists[:4] == [True] * 4 and not any(exists[4:])
    assert 2 <= reads <= 6, reads  # 56 names: two lists each time (an invalid name: one by one)
