"""The two choices about what the public portal may show of an inquiry (issue 19).

The asker's: to be named with it (`requester.named_publicly`, an inquiry's only, off by
default, a strict boolean), offered by intake's API and web form, never by mail. Staff's:
to hold the answers back from publication (`held_back`), only with recorded grounds; the
answers still go to the asker. Both reach `InquiryAnswered` and survive review's stored
case file.

Real parts: intake as `serve()` runs it on the Tansu broker (its events read back from the
topic), review in this process over HTTP and SQLite (the intake event delivered through
its consumer's handler), Chromium for both web forms. The domain rules are checked pure.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page
from pydantic import ValidationError

from casework.contract import (
    Channel,
    InquiryAnswered,
    Requester,
    SubmissionKind,
    SubmissionReceived,
    from_cloudevent,
)
from casework.errors import Rejected
from casework.policy import load_policy
from services.intake.domain.forms import FORMS, InquiryForm
from services.intake.domain.mail.mapping import Routing, map_mail
from services.intake.domain.mail.parse import InboundMail
from services.intake.domain.submission import fingerprint
from services.review.adapters.stored import from_document
from services.review.domain.case import Case, CaseState
from services.review.domain.deadlines import calendar_for, set_waiting
from services.review.domain.inquiries import InquiryForm as AnswerForm
from services.review.domain.inquiries import answer_inquiry
from services.review.domain.opening import case_id_for, open_case
from services.review.domain.staff import StaffMember
from tests.fixtures.browser import artefact_path
from tests.review_support import module_review  # noqa: F401 (the review fixture)
from tests.test_intake_api import (  # noqa: F401 (the intake fixture)
    EXAMPLES,
    ROOT,
    Intake,
    fields_and_rules,
    intake,
    post,
    the_event,
)
from tests.test_review_auth_support import Review, receive
from tests.test_review_console_pages import api, outbox, problems, read, sign_in

POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
ASKED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a Friday
STAFF = StaffMember(
    id="alice", name="Alice", email="alice@example.org", levels=["case-handler"], languages=["en"]
)
ANSWERS = [
    {"outcome": "answered", "text": "UCoC 3.1."},
    {"outcome": "refused", "text": "Disclosing it would identify the reporters."},
]
GROUNDS = "The answers quote a private report; publishing them would identify its author."
Json = dict[str, Any]


def inquiry_body(**requester: Any) -> Json:
    body = copy.deepcopy(EXAMPLES[SubmissionKind.INQUIRY])
    body["requester"] = {k: v for k, v in body["requester"].items() if k != "named_publicly"}
    body["requester"].update(requester)
    return body


def asked(named_publicly: bool = False, received_at: datetime = ASKED) -> SubmissionReceived:
    return SubmissionReceived(
        submission_id=f"R-ASKED{'NAMED' if named_publicly else 'ANONS'}22",
        kind=SubmissionKind.INQUIRY,
        channel=Channel.FORM,
        routed_to="support-and-safety",
        summary="1. Which clause?\n2. Who decided?",
        requester=Requester(
            name="Asker Person", email="asker@example.org", named_publicly=named_publicly
        ),
        received_at=received_at,
        refers_to="OA-EARLIERCASE2",
        questions=["Which clause?", "Who decided?"],
    )


def inquiry_case(named_publicly: bool = False) -> Case:
    return open_case(asked(named_publicly), POLICY, ASKED)[0]


def answer(case: Case, now: datetime, **form: Any) -> tuple[Case, InquiryAnswered]:
    body = AnswerForm.model_validate({"answers": ANSWERS, **form})
    done, events = answer_inquiry(case, body, STAFF, now, calendar=calendar_for(case, POLICY))
    (event,) = events
    assert isinstance(event, InquiryAnswered)
    return done, event


def refusal(case: Case, **form: Any) -> set[tuple[str, str]]:
    with pytest.raises(Rejected) as caught:
        answer(case, ASKED + timedelta(days=1), **form)
    return {(e.field, e.rule) for e in caught.value.errors}


# --- the asker's opt-in: intake's shapes -----------------------------------------------------


def test_the_opt_in_is_off_by_default_strict_and_an_inquiry_s_only() -> None:
    assert InquiryForm.model_validate(inquiry_body()).requester.named_publicly is False
    chosen = InquiryForm.model_validate(inquiry_body(named_publicly=True))
    assert chosen.requester.named_publicly is True
    for loose in ("true", 1, "yes", None):
        with pytest.raises(ValidationError) as caught:
            InquiryForm.model_validate(inquiry_body(named_publicly=loose))
        assert [e["loc"] for e in caught.value.errors()] == [("requester", "named_publicly")]
    for kind, model in FORMS.items():
        if kind is SubmissionKind.INQUIRY:
            continue
        body = copy.deepcopy(EXAMPLES[kind])
        body["requester"] = {**body.get("requester", {}), "named_publicly": False}
        with pytest.raises(ValidationError) as caught:
            model.model_validate(body)
        found = [(e["loc"], e["type"]) for e in caught.value.errors()]
        assert ((("requester", "named_publicly"), "extra_forbidden")) in found, kind


def test_an_inquiry_left_at_the_default_prints_as_before_the_opt_in_existed() -> None:
    """A retry with the same Idempotency-Key across the upgrade still matches its first."""
    form = InquiryForm.model_validate(inquiry_body())
    dumped = form.model_dump(mode="json")
    del dumped["requester"]["named_publicly"]
    before = json.dumps({"kind": "inquiry", "form": dumped}, sort_keys=True, separators=(",", ":"))
    assert fingerprint(form) == hashlib.sha256(before.encode()).hexdigest()
    assert fingerprint(InquiryForm.model_validate(inquiry_body(named_publicly=True))) != (
        fingerprint(form)
    )


def test_mail_never_opts_in_whatever_the_text_says() -> None:
    mail = InboundMail(
        sender="asker@example.org",
        sender_name="Asker Person",
        recipients=("inquiries@example.org",),
        subject="About OA-EARLIERCASE2",
        message_id="<m1@example.org>",
        in_reply_to=(),
        references=(),
        language="en",
        text="Case: OA-EARLIERCASE2\n1. Which clause?\nNamed publicly: yes\n",
    )
    mapped = map_mail(SubmissionKind.INQUIRY, mail, Routing(addresses={}))
    assert "named_publicly" not in mapped.payload["requester"]
    assert InquiryForm.model_validate(mapped.payload).requester.named_publicly is False


# --- staff's hold-back: review's domain ------------------------------------------------------


def test_the_opt_in_and_the_dates_reach_inquiry_answered() -> None:
    now = ASKED + timedelta(days=3)
    for named in (False, True):
        case, event = answer(inquiry_case(named), now)
        assert event.requester.named_publicly is named
        assert event.asked_at == ASKED and event.answered_at == now
        assert event.deadline_at == case.deadline_at == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
        assert (event.held_back, event.held_back_grounds) == (False, None)
        assert not case.answers_held_back and case.held_back_grounds is None


def test_the_deadline_given_is_the_real_one_with_its_pauses() -> None:
    calendar = calendar_for(inquiry_case(), POLICY)
    # Paused Monday 23 09:00 to Wednesday 25 09:00: two business days later, 8 December.
    paused = set_waiting(
        inquiry_case(), True, "alice", ASKED + timedelta(days=3), calendar=calendar
    )
    resumed = set_waiting(paused, False, "alice", ASKED + timedelta(days=5), calendar=calendar)
    _, event = answer(resumed, ASKED + timedelta(days=6))
    assert event.deadline_at == datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    # Answered while still paused: the pause so far counts (Monday to Thursday 09:00).
    _, event = answer(paused, ASKED + timedelta(days=6))
    assert event.deadline_at == datetime(2026, 12, 9, 9, 0, tzinfo=UTC)


def test_a_hold_back_needs_grounds_and_grounds_need_a_hold_back() -> None:
    case = inquiry_case()
    rule = ("held_back_grounds", "required_when_held_back")
    assert refusal(case, held_back=True) == {rule}
    assert refusal(case, held_back=True, held_back_grounds=" \n ") == {rule}
    assert refusal(case, held_back_grounds=GROUNDS) == {
        ("held_back_grounds", "only_when_held_back")
    }
    for bad, field in (
        ({"held_back": "yes"}, "held_back"),
        ({"held_back": True, "held_back_grounds": "x" * 2001}, "held_back_grounds"),
    ):
        with pytest.raises(ValidationError) as caught:
            AnswerForm.model_validate({"answers": ANSWERS, **bad})
        assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_held_back_answers_are_still_answered_and_the_grounds_recorded() -> None:
    now = ASKED + timedelta(days=2)
    case, event = answer(inquiry_case(True), now, held_back=True, held_back_grounds=GROUNDS)
    assert (event.held_back, event.held_back_grounds) == (True, GROUNDS)
    assert [a.text for a in event.answers] == [a["text"] for a in ANSWERS]
    assert event.requester.named_publicly is True
    assert case.state is CaseState.ANSWERED
    assert (case.answers_held_back, case.held_back_grounds) == (True, GROUNDS)
    assert [(e.action, e.detail) for e in case.timeline[-2:]] == [
        ("inquiry-answered", "1: answered; 2: refused"),
        ("answers-held-back", GROUNDS),
    ]


# --- intake -> review -> InquiryAnswered, over the real services ------------------------------


async def asked_through_intake(
    intake: Intake, review: Review, http: aiohttp.ClientSession, body: Json
) -> str:
    """Submit ``body`` to intake's API and deliver its event to review as its consumer does;
    the case id review opened."""
    status, reply, _ = await post(http, intake.submissions_url("inquiry"), body)
    assert status == 202, reply
    event = await the_event(intake, reply["reference"])
    received = from_cloudevent(event)
    assert isinstance(received, SubmissionReceived) and received.requester is not None
    assert received.requester.named_publicly is body["requester"].get("named_publicly", False)
    await receive(review, received)
    return case_id_for(reply["reference"])


async def test_intake_refuses_a_loose_or_misplaced_opt_in_and_keeps_nothing(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    before = len(await intake.documents())
    status, reply, _ = await post(
        http, intake.submissions_url("inquiry"), inquiry_body(named_publicly="true")
    )
    assert status == 422 and fields_and_rules(reply) == {("requester.named_publicly", "bool_type")}
    request = copy.deepcopy(EXAMPLES[SubmissionKind.REQUEST])
    request["requester"]["named_publicly"] = True
    status, reply, _ = await post(http, intake.submissions_url("request"), request)
    assert status == 422
    assert fields_and_rules(reply) == {("requester.named_publicly", "extra_forbidden")}
    assert len(await intake.documents()) == before


async def test_the_opt_in_is_kept_from_intake_to_inquiry_answered_and_in_review_s_store(
    intake: Intake, review: Review, http: aiohttp.ClientSession
) -> None:
    named = await asked_through_intake(intake, review, http, inquiry_body(named_publicly=True))
    anonymous = await asked_through_intake(intake, review, http, inquiry_body())
    for case_id, expected in ((named, True), (anonymous, False)):
        doc = await review.store.get("cases", case_id)
        assert doc is not None and doc["submission"]["requester"]["named_publicly"] is expected
        status, body = await api(
            review,
            "POST",
            f"/api/v1/cases/{case_id}/inquiry-answers",
            "alice",
            {"answers": ANSWERS},
        )
        assert status == 201, body
        [event] = await outbox(review, InquiryAnswered, case_id)
        assert event["requester"]["named_publicly"] is expected
        assert event["held_back"] is False and event["held_back_grounds"] is None
        assert event["deadline_at"] == body["deadline"]["due_at"]
        assert event["asked_at"] == body["submission"]["received_at"]


async def test_a_hold_back_without_grounds_is_refused_naming_them_and_changes_nothing(
    intake: Intake, review: Review, http: aiohttp.ClientSession
) -> None:
    case_id = await asked_through_intake(intake, review, http, inquiry_body(named_publicly=True))
    path = f"/api/v1/cases/{case_id}/inquiry-answers"
    before = await review.store.get("cases", case_id)
    for body, rule in (
        ({"answers": ANSWERS, "held_back": True}, "required_when_held_back"),
        (
            {"answers": ANSWERS, "held_back": True, "held_back_grounds": "  "},
            "required_when_held_back",
        ),
        ({"answers": ANSWERS, "held_back_grounds": GROUNDS}, "only_when_held_back"),
    ):
        status, reply = await api(review, "POST", path, "alice", body)
        assert status == 422, reply
        assert {(e["field"], e["rule"]) for e in reply["errors"]} == {("held_back_grounds", rule)}
    assert await review.store.get("cases", case_id) == before
    assert await outbox(review, InquiryAnswered, case_id) == []
    body = {"answers": ANSWERS, "held_back": True, "held_back_grounds": GROUNDS}
    status, reply = await api(review, "POST", path, "alice", body)
    assert status == 201 and reply["state"] == "answered", reply
    [event] = await outbox(review, InquiryAnswered, case_id)
    assert (event["held_back"], event["held_back_grounds"]) == (True, GROUNDS)
    assert [a["text"] for a in event["answers"]] == [a["text"] for a in ANSWERS]
    # Read back from the store: the hold-back and the opt-in are both kept.
    doc = await review.store.get("cases", case_id)
    assert doc is not None
    kept = from_document(doc)
    assert (kept.answers_held_back, kept.held_back_grounds) == (True, GROUNDS)
    assert kept.submission and kept.submission.requester
    assert kept.submission.requester.named_publicly is True
    shown = await read(review, case_id)
    assert (shown["answers_held_back"], shown["held_back_grounds"]) == (True, GROUNDS)
    assert ("answers-held-back", GROUNDS) in [(e["action"], e["detail"]) for e in shown["timeline"]]


# --- the web forms --------------------------------------------------------------------------


async def test_the_inquiry_form_is_prefilled_from_the_portal_s_link_and_offers_the_opt_in(
    intake: Intake, browser: Browser
) -> None:
    context = await browser.new_context(locale="en-GB", java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto(f"{intake.url}/submit/inquiry?refers_to=OA-EARLIERCASE2&lang=en")
        assert await page.input_value('[name="refers_to"]') == "OA-EARLIERCASE2"
        box = page.get_by_role("checkbox", name="Show my name with this inquiry")
        assert not await box.is_checked()
        hint = await page.inner_text("#f-requester-named_publicly-hint")
        assert "e-mail address is never shown" in hint
        for junk in ("oa-earliercase2", "OA-EARLIERCASE2%0A", "<script>", ""):
            await page.goto(f"{intake.url}/submit/inquiry?refers_to={junk}")
            assert await page.input_value('[name="refers_to"]') == ""
        await page.goto(f"{intake.url}/submit/inquiry?refers_to=OA-EARLIERCASE2&lang=ru")
        label = await page.inner_text('label[for="f-requester-named_publicly"]')
        assert "публичном портале" in label
        assert "не показывается никогда" in await page.inner_text(
            "#f-requester-named_publicly-hint"
        )
        await page.screenshot(path=artefact_path("intake-inquiry-opt-in-ru.png"), full_page=True)
        # Sent with the box ticked: the event says so; sent unticked: it does not.
        for tick in (True, False):
            await page.goto(f"{intake.url}/submit/inquiry?refers_to=OA-EARLIERCASE2&lang=en")
            await page.fill('[name="questions"]', "Which clause?\nWho decided?")
            await page.fill('[name="requester.name"]', "Asker Person")
            await page.fill('[name="requester.email"]', "asker@example.org")
            if tick:
                await page.check('[name="requester.named_publicly"]')
            async with page.expect_navigation():
                await page.get_by_role("button", name="Send").click()
            reference = (await page.inner_text("#reference")).strip()
            event = await the_event(intake, reference)
            assert event.data["refers_to"] == "OA-EARLIERCASE2"
            assert event.data["requester"]["named_publicly"] is tick
    finally:
        await context.close()


async def test_the_console_holds_answers_back_only_with_grounds(
    intake: Intake, review: Review, browser: Browser, http: aiohttp.ClientSession
) -> None:
    case_id = await asked_through_intake(intake, review, http, inquiry_body(named_publicly=True))
    context, page = await sign_in(browser, review, "alice")
    try:
        await page.goto(f"{review.url}/console/cases/{case_id}")
        assert await page.get_attribute("#asker-named", "data-named") == "yes"
        await fill_answers(page)
        await page.check('input[name="held_back"]')
        await page.click("#answer-inquiry")
        await page.wait_for_selector(".problems")
        assert "held_back_grounds" in await problems(page)
        assert await page.is_checked('input[name="held_back"]')
        assert (await read(review, case_id))["state"] == "open"
        assert await outbox(review, InquiryAnswered, case_id) == []
        await page.fill('textarea[name="held_back_grounds"]', GROUNDS)
        await page.click("#answer-inquiry")
        await page.wait_for_selector("#held-back")
        assert (await page.inner_text("#held-back-grounds")).strip() == GROUNDS
        await page.screenshot(path=artefact_path("review-inquiry-held-back.png"), full_page=True)
    finally:
        await context.close()
    [event] = await outbox(review, InquiryAnswered, case_id)
    assert (event["held_back"], event["held_back_grounds"]) == (True, GROUNDS)
    assert event["requester"]["named_publicly"] is True


async def fill_answers(page: Page) -> None:
    await page.fill('textarea[name="answers.0.text"]', ANSWERS[0]["text"])
    await page.check('input[name="answers.1.outcome"][value="refused"]')
    await page.fill('textarea[name="answers.1.text"]', ANSWERS[1]["text"])
