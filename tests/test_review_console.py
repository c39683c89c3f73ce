"""The staff console in a real headless Chromium against the whole stack (every service
its own process, the real Tansu broker, sandbox MediaWiki and SMTP): sign-in, a global
ban drafted by a handler and signed by three other staff, each in their own browser
context, and published; CSRF, a wrong password and the read-only auditor."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from casework.cloudevents import CloudEvent
from casework.contract import (
    DecisionApproved,
    EnforcementFailed,
    RestorationOrdered,
    RetryOrdered,
    TamperingDetected,
    from_cloudevent,
    to_cloudevent,
    topic_of,
)
from casework.kafka import EventPublisher
from services.review.domain.opening import case_id_for
from tests.fixtures.browser import artefact_path
from tests.fixtures.stack import Stack
from tests.support import eventually, topic_events
from tests.test_end_to_end import case_opened, submit, token

pytestmark = pytest.mark.e2e


async def sign_in(browser: Browser, stack: Stack, staff_id: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{stack.url('review')}/console")
    assert page.url.startswith(f"{stack.url('review')}/console/login?next=")
    await page.fill("#login", staff_id)
    await page.fill("#password", f"demo-{staff_id}-password")
    await page.click("#sign-in")
    await page.wait_for_selector(f'.me[data-staff="{staff_id}"]')
    return context, page


async def open_case(http: aiohttp.ClientSession, stack: Stack, account: str) -> str:
    case_id = case_id_for(await submit(http, stack, account))
    await case_opened(http, stack, case_id)
    return case_id


async def api_case(http: aiohttp.ClientSession, stack: Stack, case_id: str) -> dict[str, object]:
    async with http.get(
        f"{stack.url('review')}/api/v1/cases/{case_id}", headers=token("otto")
    ) as reply:
        assert reply.status == 200, await reply.text()
        body: dict[str, object] = await reply.json()
        return body


async def review_events(bootstrap: str) -> list[CloudEvent]:
    return await topic_events(bootstrap, topic_of("review"))


async def test_a_handler_drafts_a_global_ban_three_others_sign_and_it_is_published(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    case_id = await open_case(http, stack, "Console Banned")
    contexts: list[BrowserContext] = []
    try:
        context, alice = await sign_in(browser, stack, "alice")
        contexts.append(context)
        await alice.screenshot(path=artefact_path("console-queue.png"), full_page=True)
        await alice.click(f'a[href="/console/cases/{case_id}"]')
        await alice.select_option('#decision-form select[name="action_type"]', "global-ban")
        await alice.fill('#decision-form input[name="subject_account"]', "Console Banned")
        await alice.fill('#decision-form input[name="subject_email"]', "banned@sandbox.test")
        await alice.fill('#decision-form input[name="language"]', "en")
        await alice.check('#grounds input[value="tou-4-harassment"]')
        await alice.check('#grounds input[value="ucoc-3-1"]')
        await alice.fill(
            '#decision-form textarea[name="statement_of_facts"]',
            "Threats on three talk pages; private chat logs on file.",
        )
        await alice.fill(
            '#decision-form textarea[name="public_rationale"]',
            "Sustained cross-wiki harassment of several contributors.",
        )
        await alice.click("#save-decision")
        await alice.wait_for_selector('#state[data-state="awaiting-signoff"]')
        missing = await alice.inner_text("#missing")
        # By the policy's level titles (issue 18 §3), the page's language: here English.
        assert "Case handler, Trust & Safety manager, Legal counsel, Director" in missing
        await alice.fill('#signoff-form textarea[name="comment"]', "Drafted and checked.")
        await alice.click("#sign")
        await alice.wait_for_selector('#signoffs tr[data-level="case-handler"]')
        await alice.screenshot(path=artefact_path("console-drafted.png"), full_page=True)

        for staff_id, level in [
            ("bob", "ts-manager"),
            ("carol", "legal-counsel"),
            ("dave", "director"),
        ]:
            context, page = await sign_in(browser, stack, staff_id)
            contexts.append(context)
            await page.goto(f"{stack.url('review')}/console/cases/{case_id}")
            assert await page.input_value('#signoff-form select[name="level"]') == level
            comment = f"{staff_id}: approved at {level}, «verbatim» ✓"
            await page.fill('#signoff-form textarea[name="comment"]', comment)
            await page.click("#sign")
            row = page.locator(f'#signoffs tr[data-level="{level}"]')
            await row.wait_for()
            assert staff_id in await row.inner_text()
            assert comment in await row.inner_text()

        await page.wait_for_selector("#published")
        assert await page.inner_text("#state") == "approved"
        assert await page.inner_text("#missing") == "Every level has signed."
        await page.screenshot(path=artefact_path("console-published.png"), full_page=True)
    finally:
        for context in contexts:
            await context.close()

    body = await api_case(http, stack, case_id)
    assert body["state"] == "approved"
    signed = [(s["level"], s["staff_id"]) for s in body["signoffs"]]  # type: ignore[attr-defined]
    assert signed == [
        ("case-handler", "alice"),
        ("ts-manager", "bob"),
        ("legal-counsel", "carol"),
        ("director", "dave"),
    ]

    async def approved() -> DecisionApproved | None:
        for event in await review_events(stack.broker.bootstrap):
            data = from_cloudevent(event)
            if isinstance(data, DecisionApproved) and data.case_id == case_id:
                return data
        return None

    published = await eventually(approved, what=f"DecisionApproved for {case_id} on the broker")
    assert published.decision.subject.account == "Console Banned"
    assert [g.id for g in published.decision.grounds] == ["tou-4-harassment", "ucoc-3-1"]


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    case_id = await open_case(http, stack, "Csrf Target")
    before = await api_case(http, stack, case_id)
    context, page = await sign_in(browser, stack, "alice")
    try:
        # A forged cross-site form would carry the cookie but not the page's token.
        reply = await context.request.post(
            f"{stack.url('review')}/console/cases/{case_id}/notes",
            form={"text": "planted note"},
            max_redirects=0,
        )
        assert reply.status == 403
        assert "csrf_token" in await reply.text()
        await page.goto(f"{stack.url('review')}/console/cases/{case_id}")
        await page.fill('#note-form textarea[name="text"]', "a genuine note")
        await page.click("#note-form button")
        await page.wait_for_selector("#notes li:has-text('a genuine note')")
    finally:
        await context.close()
    after = await api_case(http, stack, case_id)
    notes = [n["text"] for n in after["notes"]]  # type: ignore[attr-defined]
    assert notes == ["a genuine note"]
    assert before["notes"] == []
    assert len(after["timeline"]) == len(before["timeline"]) + 1  # type: ignore[arg-type]


async def test_a_wrong_password_is_refused(stack: Stack, page: Page) -> None:
    await page.goto(f"{stack.url('review')}/console/login")
    await page.fill("#login", "alice")
    await page.fill("#password", "demo-bob-password")
    await page.click("#sign-in")
    await page.wait_for_selector(".problems")
    assert "wrong login or password" in await page.inner_text(".problems")
    assert "/console/login" in page.url
    assert [c for c in await page.context.cookies() if c["name"] == "casework_session"] == []
    await page.goto(f"{stack.url('review')}/console")
    assert "/console/login" in page.url


async def test_the_auditor_sees_the_case_but_no_forms(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    case_id = await open_case(http, stack, "Audited Editor")
    context, page = await sign_in(browser, stack, "otto")
    try:
        await page.goto(f"{stack.url('review')}/console/cases/{case_id}")
        assert case_id in await page.inner_text("h1")
        await page.wait_for_selector("#read-only")
        assert await page.locator("#timeline tbody tr").count() >= 1
        assert await page.locator("main form").count() == 0
        await page.screenshot(path=artefact_path("console-auditor.png"), full_page=True)
        reply = await context.request.post(
            f"{stack.url('review')}/console/cases/{case_id}/notes",
            form={"text": "auditor note", "csrf_token": "irrelevant"},
            max_redirects=0,
        )
        assert reply.status == 403
    finally:
        await context.close()
    assert (await api_case(http, stack, case_id))["notes"] == []


async def test_the_console_speaks_russian(stack: Stack, browser: Browser) -> None:
    context, page = await sign_in(browser, stack, "dave")
    try:
        await page.goto(f"{stack.url('review')}/console?lang=ru")
        assert await page.inner_text("h1") == "Очередь дел"
        await page.goto(f"{stack.url('review')}/console")
        assert await page.inner_text("h1") == "Очередь дел"  # kept in a cookie
    finally:
        await context.close()


async def test_a_manager_restores_a_tampered_action_with_one_click(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    case_id = await open_case(http, stack, "Tampered Editor")
    publisher = EventPublisher(stack.broker.settings())
    await publisher.start()
    try:
        now = datetime.now(UTC)
        await publisher.publish(
            topic_of("enforcement"),
            to_cloudevent(
                TamperingDetected(
                    tampering_id="T-console-1",
                    case_id=case_id,
                    wiki="sandbox",
                    target="User:Tampered Editor",
                    log_id=4242,
                    log_type="block",
                    log_action="unblock",
                    performer="Rogue Admin",
                    comment="disagree",
                    logged_at=now,
                    detected_at=now,
                )
            ),
        )
    finally:
        await publisher.stop()

    async def recorded() -> bool:
        return bool((await api_case(http, stack, case_id))["tamperings"])

    await eventually(recorded, what="review to record the tampering")
    context, page = await sign_in(browser, stack, "bob")
    try:
        await page.goto(f"{stack.url('review')}/console/cases/{case_id}")
        assert "Rogue Admin" in await page.inner_text("#tampering")
        await page.click("#tampering .restore-form button")
        await page.wait_for_selector("#tampering >> text=restoration ordered by bob")
        await page.screenshot(path=artefact_path("console-restoration.png"), full_page=True)
    finally:
        await context.close()

    async def ordered() -> list[CloudEvent]:
        return [
            e
            for e in await review_events(stack.broker.bootstrap)
            if e.type == RestorationOrdered.TYPE and e.subject == case_id
        ]

    [event] = await eventually(ordered, what="the RestorationOrdered event")
    assert event.data["tampering_id"] == "T-console-1"
    assert event.data["ordered_by"] == "bob"


async def test_a_manager_retries_an_operation_failed_for_good_from_the_case_page(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    """Issue 18: "retry this operation" next to the failed operation, with what was mended."""
    case_id = await open_case(http, stack, "Unremovable Editor")
    publisher = EventPublisher(stack.broker.settings())
    await publisher.start()
    try:
        await publisher.publish(
            topic_of("enforcement"),
            to_cloudevent(
                EnforcementFailed(
                    case_id=case_id,
                    wiki="sandbox",
                    kind="remove-rights",
                    target="Unremovable Editor",
                    error_code="nothing-removed",
                    error_info="the role account may lack the right",
                    permanent=True,
                    failed_at=datetime.now(UTC),
                )
            ),
        )
    finally:
        await publisher.stop()

    async def failed() -> bool:
        ops = (await api_case(http, stack, case_id))["outcome"]["operations"]
        return any(o["status"] == "failed" for o in ops)

    await eventually(failed, what="review to record the failure")
    context, page = await sign_in(browser, stack, "bob")
    try:
        await page.goto(f"{stack.url('review')}/console/cases/{case_id}")
        await page.fill("#outcome-operations .retry-form input[name=reason]", "right granted")
        await page.click("#outcome-operations .retry-form button")
        await page.wait_for_selector('#outcome-operations tr[data-status="retrying"]')
        await page.goto(f"{stack.url('review')}/console/cases/{case_id}?lang=ru")
        kind = page.locator('#outcome-operations td[data-kind="remove-rights"]')
        assert await kind.inner_text() == "снятие прав"  # issue 18 §3: the page's language
    finally:
        await context.close()

    async def ordered() -> list[CloudEvent]:
        return [
            e
            for e in await review_events(stack.broker.bootstrap)
            if e.type == RetryOrdered.TYPE and e.subject == case_id
        ]

    [event] = await eventually(ordered, what="the RetryOrdered event")
    assert (event.data["kind"], event.data["reason"]) == ("remove-rights", "right granted")
    assert event.data["ordered_by"] == "bob"
