"""The console's case-file pages in a real headless Chromium: assignment, evidence, links
and merging, waiting for the requester, reversal, inquiry answers and the decision's
disclosure plan. Each action goes through its form and is checked through the JSON API
or review's outbox; each page also refuses a wrong role (403 page) and bad input (the
form again, naming the field, nothing changed).

Review runs in this process over real HTTP and SQLite, built by its own `wire`
(tests/test_review_auth_support.py); the broker is not started, so published events
are read from the outbox the relay would send them from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
from playwright.async_api import Browser, BrowserContext, Page

from casework.contract import (
    Channel,
    DecisionReversed,
    EventData,
    InquiryAnswered,
    Requester,
    Subject,
    SubmissionKind,
)
from services.review.domain.opening import case_id_for
from tests.fixtures.browser import artefact_path
from tests.review_support import module_review  # noqa: F401 (the review fixture)
from tests.test_review_auth_support import Review, receive, submission

Json = dict[str, Any]


async def new_case(review: Review, submission_id: str, **fields: Any) -> str:
    made = submission(submission_id).model_copy(update={"received_at": datetime.now(UTC), **fields})
    await receive(review, made)
    return case_id_for(submission_id)


async def api(
    review: Review, method: str, path: str, staff_id: str = "otto", body: Json | None = None
) -> tuple[int, Json]:
    headers = {"Authorization": f"Bearer demo-{staff_id}-token"}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, review.url + path, headers=headers, json=body) as reply:
            return reply.status, await reply.json()


async def read(review: Review, case_id: str) -> Json:
    status, body = await api(review, "GET", f"/api/v1/cases/{case_id}")
    assert status == 200, body
    return body


async def outbox(review: Review, event_type: type[EventData], case_id: str) -> list[Json]:
    entries = await review.store.pending_outbox(limit=1000)
    return [
        e.event.data
        for e in entries
        if e.event.type == event_type.TYPE and e.event.subject == case_id
    ]


async def sign_in(browser: Browser, review: Review, staff_id: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{review.url}/console/login")
    await page.fill("#login", staff_id)
    await page.fill("#password", f"demo-{staff_id}-password")
    await page.click("#sign-in")
    await page.wait_for_selector(f'.me[data-staff="{staff_id}"]')
    return context, page


async def case_page(page: Page, review: Review, case_id: str) -> None:
    await page.goto(f"{review.url}/console/cases/{case_id}")


async def problems(page: Page) -> str:
    return await page.inner_text(".problems")


async def forged_post(context: BrowserContext, page: Page, url: str, form: Json) -> tuple[int, str]:
    """A post with this session's CSRF token (the sign-out form carries it on every page)
    but fields or an action the page does not offer."""
    token = await page.get_attribute('input[name="csrf_token"]', "value")
    reply = await context.request.post(
        url, form={**form, "csrf_token": token or ""}, max_redirects=0
    )
    return reply.status, await reply.text()


async def test_a_handler_takes_a_case_and_assigns_it_to_a_colleague(
    review: Review, browser: Browser
) -> None:
    case_id = await new_case(review, "R-PAGESASSIGN1")
    context, page = await sign_in(browser, review, "alice")
    try:
        await case_page(page, review, case_id)
        await page.click("#take")
        await page.wait_for_selector("#take-form", state="detached")
        assert (await read(review, case_id))["assignee"] == "alice"
        await page.select_option('#assign-form select[name="assignee"]', "bob")
        await page.click("#assign")
        await page.wait_for_selector("#take")
        body = await read(review, case_id)
        assert body["assignee"] == "bob"
        assigned = [
            (e["actor"], e["detail"]) for e in body["timeline"] if e["action"] == "assigned"
        ]
        assert assigned == [("alice", "alice"), ("alice", "bob")]
        # A name the select does not offer: the page again, naming the field.
        status, text = await forged_post(
            context, page, f"{review.url}/console/cases/{case_id}/assignee", {"assignee": "zed"}
        )
        assert status == 422 and "known_staff" in text
        assert (await read(review, case_id))["assignee"] == "bob"
    finally:
        await context.close()
    context, page = await sign_in(browser, review, "otto")
    try:
        await case_page(page, review, case_id)
        assert await page.locator("#assign-form").count() == 0
        status, text = await forged_post(
            context, page, f"{review.url}/console/cases/{case_id}/assignee", {"assignee": "otto"}
        )
        assert status == 403 and "assign-case" in text
    finally:
        await context.close()
    assert (await read(review, case_id))["assignee"] == "bob"


async def test_evidence_is_added_with_its_class_and_audience(
    review: Review, browser: Browser
) -> None:
    case_id = await new_case(review, "R-PAGESEVIDNCE")
    before = await read(review, case_id)
    context, page = await sign_in(browser, review, "tess")
    try:
        await case_page(page, review, case_id)
        form = page.locator("#evidence-form")
        await form.locator('select[name="where"]').select_option("off-wiki-private")
        await form.locator('input[name="url"]').fill("https://chat.example.org/log/7")
        await form.locator('input[value="functionaries"]').check()
        await form.locator("#add-evidence").click()
        # No description: the form again, naming the field, with what was chosen kept.
        await page.wait_for_selector(".problems")
        assert "description" in await problems(page)
        assert await page.input_value('#evidence-form select[name="where"]') == "off-wiki-private"
        assert await page.is_checked('#evidence-form input[value="functionaries"]')
        assert (await read(review, case_id))["evidence"] == before["evidence"]

        await form.locator('textarea[name="description"]').fill("Private chat threats")
        await form.locator("#add-evidence").click()
        await page.wait_for_selector("#evidence td:has-text('Private chat threats')")

        await page.fill('#note-form textarea[name="text"]', "Chat log verified with the host.")
        await page.click("#note-form button")
        await page.wait_for_selector("#notes li:has-text('Chat log verified')")
        await page.screenshot(path=artefact_path("console-evidence.png"), full_page=True)
    finally:
        await context.close()
    body = await read(review, case_id)
    added = body["evidence"][-1]
    assert (added["description"], added["where"], added["audiences"], added["added_by"]) == (
        "Private chat threats",
        "off-wiki-private",
        ["functionaries"],
        "tess",
    )
    assert added["url"] == "https://chat.example.org/log/7"
    assert [n["text"] for n in body["notes"]] == ["Chat log verified with the host."]
    assert [e["action"] for e in body["timeline"][-2:]] == ["evidence-added", "note-added"]


async def test_cases_are_linked_and_a_duplicate_merged(review: Review, browser: Browser) -> None:
    original = await new_case(review, "R-PAGESORIGIN1")
    breach = await new_case(review, "R-PAGESBREACH1")
    duplicate = await new_case(review, "R-PAGESDUPLIC1")
    context, page = await sign_in(browser, review, "alice")
    try:
        await case_page(page, review, breach)
        await page.select_option('#link-form select[name="kind"]', "breach-of")
        await page.fill('#link-form input[name="case_id"]', breach)
        await page.click("#add-link")
        await page.wait_for_selector(".problems")
        assert "case_id" in await problems(page) and "a case cannot link itself" in (
            await problems(page)
        )
        assert (await read(review, breach))["links"] == []
        await page.fill('#link-form input[name="case_id"]', original)
        await page.click("#add-link")
        await page.wait_for_selector('#link-list li[data-kind="breach-of"]')

        await case_page(page, review, duplicate)
        await page.fill('#merge-form input[name="into"]', original)
        await page.click("#merge")
        await page.wait_for_selector('#state[data-state="merged"]')
    finally:
        await context.close()
    assert (await read(review, breach))["links"] == [{"kind": "breach-of", "case_id": original}]
    dup = await read(review, duplicate)
    assert {"kind": "duplicate-of", "case_id": original} in dup["links"]
    merged_into = await read(review, original)
    assert {"kind": "merged-from", "case_id": duplicate} in merged_into["links"]

    context, page = await sign_in(browser, review, "dave")  # director: no link-cases
    try:
        status, text = await forged_post(
            context,
            page,
            f"{review.url}/console/cases/{original}/links",
            {"kind": "related", "case_id": breach},
        )
        assert status == 403 and "link-cases" in text
    finally:
        await context.close()


async def test_waiting_for_the_requester_pauses_and_resumes_the_deadline(
    review: Review, browser: Browser
) -> None:
    case_id = await new_case(review, "R-PAGESWAITING")
    context, page = await sign_in(browser, review, "alice")
    try:
        await case_page(page, review, case_id)
        await page.fill('#waiting-form input[name="reason"]', "Asked for the diffs.")
        await page.click("#pause")
        await page.wait_for_selector("#resume")
        paused = await read(review, case_id)
        assert paused["waiting_for_requester"] is True
        assert paused["deadline"]["paused_at"] is not None
        await page.click("#resume")
        await page.wait_for_selector("#pause")
    finally:
        await context.close()
    resumed = await read(review, case_id)
    assert resumed["waiting_for_requester"] is False
    assert resumed["deadline"]["paused_at"] is None
    actions = [(e["action"], e["detail"]) for e in resumed["timeline"][-2:]]
    assert actions == [("waiting-for-requester", "Asked for the diffs."), ("resumed", "")]

    context, page = await sign_in(browser, review, "tess")  # triage: no set-waiting
    try:
        await case_page(page, review, case_id)
        assert await page.locator("#waiting-form").count() == 0
        status, text = await forged_post(
            context, page, f"{review.url}/console/cases/{case_id}/waiting", {"waiting": "yes"}
        )
        assert status == 403 and "set-waiting" in text
    finally:
        await context.close()
    assert (await read(review, case_id))["waiting_for_requester"] is False


async def approve_over_the_api(review: Review, case_id: str) -> None:
    """An interaction ban signed by alice (case handler) and bob (manager)."""
    draft = {
        "action_type": "interaction-ban",
        "subject": {"account": "Troublesome Editor"},
        "grounds": ["tou-4-harassment"],
        "public_rationale": "Sustained harassment.",
        "interaction_ban": {"counterparties": ["Victim One"]},
    }
    status, body = await api(review, "PUT", f"/api/v1/cases/{case_id}/decision", "alice", draft)
    assert status == 200, body
    for staff_id, level in [("alice", "case-handler"), ("bob", "ts-manager")]:
        sign = {"level": level, "verdict": "approve", "comment": "ok"}
        status, body = await api(
            review, "POST", f"/api/v1/cases/{case_id}/signoffs", staff_id, sign
        )
        assert status == 201, body
    assert (await read(review, case_id))["state"] == "approved"


async def test_a_reversal_in_error_is_started_by_one_manager_and_confirmed_by_another(
    review: Review, browser: Browser
) -> None:
    case_id = await new_case(review, "R-PAGESREVERSE")
    await approve_over_the_api(review, case_id)
    context, page = await sign_in(browser, review, "alice")  # handler: no reverse-decision
    try:
        await case_page(page, review, case_id)
        assert await page.locator("#reversal-form").count() == 0
        status, text = await forged_post(
            context,
            page,
            f"{review.url}/console/cases/{case_id}/reversal",
            {"grounds": "error", "reason": "x"},
        )
        assert status == 403 and "reverse-decision" in text
    finally:
        await context.close()
    context, page = await sign_in(browser, review, "bob")
    try:
        await case_page(page, review, case_id)
        assert await page.locator("#reversal-needed").count() == 1  # two people needed
        await page.check('#reversal-form input[value="appeal-upheld"]')
        await page.fill('#reversal-form textarea[name="reason"]', "The ban named the wrong user.")
        await page.click("#reverse")
        await page.wait_for_selector(".problems")
        assert "appeal_case_id" in await problems(page)
        assert await page.is_checked('#reversal-form input[value="appeal-upheld"]')
        assert (await read(review, case_id))["state"] == "approved"
        await page.check('#reversal-form input[value="error"]')
        await page.click("#reverse")
        # One person: pending, the decision stands; bob is not offered a second approval.
        await page.wait_for_selector("#pending-reversal")
        assert await page.inner_text("#state") == "approved"
        assert await page.locator("#reversal-approvals .approver").all_inner_texts() == ["bob"]
        assert await page.locator("#reversal-form").count() == 0
        # Withdrawn, and started again.
        await page.click("#withdraw-reversal")
        await page.wait_for_selector("#reversal-form input[value='error']")
        assert (await read(review, case_id))["pending_reversal"] is None
        await page.check('#reversal-form input[value="error"]')
        await page.fill('#reversal-form textarea[name="reason"]', "The ban named the wrong user.")
        await page.click("#reverse")
        await page.wait_for_selector("#pending-reversal")
    finally:
        await context.close()
    assert await outbox(review, DecisionReversed, case_id) == []
    context, page = await sign_in(browser, review, "carol")
    try:
        await page.goto(f"{review.url}/console/cases/{case_id}?lang=ru")
        assert "ещё 1 из 2" in await page.inner_text("#pending-reversal")
        await page.fill('#reversal-form textarea[name="reason"]', "Agreed: the wrong user.")
        await page.click("#reverse")
        await page.wait_for_selector('#state[data-state="reversed"]')
    finally:
        await context.close()
    [reversed_] = await outbox(review, DecisionReversed, case_id)
    assert reversed_["reason"] == "The ban named the wrong user."
    assert reversed_["reversed_by"] == "carol" and reversed_["grounds"] == "error"
    assert [(a["staff_id"], a["comment"]) for a in reversed_["approvals"]] == [
        ("bob", "The ban named the wrong user."),
        ("carol", "Agreed: the wrong user."),
    ]


async def test_an_inquiry_is_answered_question_by_question(
    review: Review, browser: Browser
) -> None:
    case_id = await new_case(
        review,
        "R-PAGESINQUIRY",
        kind=SubmissionKind.INQUIRY,
        channel=Channel.EMAIL,
        action_type=None,
        routed_to="support-and-safety",
        summary="Why was I banned?",
        subject=Subject(account="Asker"),
        requester=Requester(name="Asker", email="asker@example.org"),
        refers_to="OA-EARLIER00001",
        questions=["Which clause?", "Who decided?"],
        evidence=[],
    )
    context, page = await sign_in(browser, review, "alice")
    try:
        await case_page(page, review, case_id)
        await page.fill('textarea[name="answers.0.text"]', "UCoC 3.1.")
        await page.check('input[name="answers.1.outcome"][value="refused"]')
        await page.click("#answer-inquiry")
        await page.wait_for_selector(".problems")
        assert "answers.1.text" in await problems(page)
        assert await page.input_value('textarea[name="answers.0.text"]') == "UCoC 3.1."
        assert await page.is_checked('input[name="answers.1.outcome"][value="refused"]')
        assert (await read(review, case_id))["state"] == "open"
        await page.fill('textarea[name="answers.1.text"]', "Staff names are withheld for safety.")
        await page.click("#answer-inquiry")
        await page.wait_for_selector("#inquiry-answers")
    finally:
        await context.close()
    [answered] = await outbox(review, InquiryAnswered, case_id)
    assert [(a["question"], a["outcome"], a["text"]) for a in answered["answers"]] == [
        ("Which clause?", "answered", "UCoC 3.1."),
        ("Who decided?", "refused", "Staff names are withheld for safety."),
    ]
    assert (await read(review, case_id))["state"] == "answered"


async def test_the_decision_form_records_the_disclosure_plan_and_evidence_audiences(
    review: Review, browser: Browser
) -> None:
    case_id = await new_case(review, "R-PAGESDISCLOS")
    context, page = await sign_in(browser, review, "alice")
    try:
        await case_page(page, review, case_id)
        form = page.locator("#decision-form")
        # Each box sits on its label's line, before the text.
        label = form.locator('#grounds label:has(input[value="tou-4-harassment"])')
        box = await label.locator("input").bounding_box()
        whole = await label.bounding_box()
        assert box is not None and whole is not None
        assert whole["height"] < box["height"] + 12  # one line, not the box above the text
        await page.screenshot(path=artefact_path("console-decision-form.png"), full_page=True)

        await form.locator('#grounds input[value="tou-4-harassment"]').check()
        await form.locator('textarea[name="public_rationale"]').fill("Harassment.")
        await form.locator('#decision-evidence input[name="evidence"][value="E1"]').check()
        await form.locator('input[name="evidence.E1.audiences"][value="requester"]').check()
        where = form.locator('fieldset[data-question="where"]')
        await where.locator('input[value="public"]').check()
        clauses = form.locator('fieldset[data-question="clauses"]')
        await clauses.locator('input[value="affected-user"]').check()
        await clauses.locator('input[value="requester"]').check()
        legal = form.locator('fieldset[data-question="legal-determination"]')
        await legal.locator("input[name$='.grounds']").fill("Privileged advice.")
        await form.locator('input[name="expires_at"]').fill("2020-01-01T00:00:00Z")
        await form.locator("#save-decision").click()
        # A past expiry: the form again with every choice kept, nothing stored.
        await page.wait_for_selector(".problems")
        assert "expires_at" in await problems(page)
        assert await where.locator('input[value="public"]').is_checked()
        assert await form.locator('#grounds input[value="tou-4-harassment"]').is_checked()
        assert await form.locator(
            'input[name="evidence.E1.audiences"][value="requester"]'
        ).is_checked()
        assert (await read(review, case_id))["decision"] is None

        await form.locator('input[name="expires_at"]').fill("")
        await form.locator("#save-decision").click()
        await page.wait_for_selector('#state[data-state="awaiting-signoff"]')
        # Drafted again, the stored plan is what the form shows.
        assert await where.locator('input[value="public"]').is_checked()
        assert not await where.locator('input[value="requester"]').is_checked()
    finally:
        await context.close()
    decision = (await read(review, case_id))["decision"]
    answers = decision["disclosure"]["answers"]
    assert answers["where"] == {"audiences": ["public"], "grounds": ""}
    assert answers["clauses"] == {"audiences": ["affected-user", "requester"], "grounds": ""}
    assert answers["legal-determination"] == {"audiences": [], "grounds": "Privileged advice."}
    assert answers["public-actions"]["audiences"] == []
    assert [(e["id"], e["audiences"]) for e in decision["evidence"]] == [("E1", ["requester"])]


async def test_the_new_forms_speak_russian(review: Review, browser: Browser) -> None:
    case_id = await new_case(review, "R-PAGESRUSSIAN")
    context, page = await sign_in(browser, review, "alice")
    try:
        await page.goto(f"{review.url}/console/cases/{case_id}?lang=ru")
        assert await page.inner_text("#take") == "Взять дело"
        assert "План раскрытия" in await page.inner_text("#disclosure legend")
        assert "вне вики, непублично" in await page.inner_text(
            '#evidence-form select[name="where"]'
        )
    finally:
        await context.close()


async def test_the_case_page_warns_that_the_decision_cites_no_evidence(
    review: Review, browser: Browser
) -> None:
    """Issue 18: the drafter sees it before anyone signs, and that the policy then refuses
    approval for a global lock; the warning goes once the decision cites an item."""
    case_id = await new_case(review, "R-NOEVIDENCE01", action_type="global-lock")
    bare = {
        "subject": {"account": "Troublesome Editor", "language": "en"},
        "grounds": ["ucoc-3-1"],
        "public_rationale": "Harassment.",
    }
    path = f"/api/v1/cases/{case_id}/decision"
    status, body = await api(review, "PUT", path, "alice", bare)
    assert status == 200, body
    context, page = await sign_in(browser, review, "alice")
    try:
        await case_page(page, review, case_id)
        warning = await page.inner_text("#no-evidence-warning")
        assert "cites no evidence" in warning and "refuses approval" in warning
        cited = {**bare, "evidence": [{"id": "E1", "audiences": ["affected-user"]}]}
        status, body = await api(review, "PUT", path, "alice", cited)
        assert status == 200, body
        await case_page(page, review, case_id)
        assert await page.locator("#no-evidence-warning").count() == 0
    finally:
        await context.close()
