"""The README's walk-through plus one inquiry, then the public portal, on the real stack.

Every service runs as its own process (`python -m services.<name>`, the portal among them,
as `make run` starts them) over the Tansu broker, the sandbox MediaWiki and the SMTP sink
(tests/fixtures/stack.py). A requester asks for a global ban of Vandal1; four staff sign
the README's decision (four of the five answers public, the legal determination not); once
enforced, someone asks two questions about the action and staff answer one and refuse the
other. Then a reader sees on the portal the action with its five answers, the inquiry with
its answers, and the quarter's report counting the ban; and the private parts (the
requesters' names and addresses, staff ids and comments, the private evidence) appear
nowhere the portal serves or keeps: its pages, feed, CSV, JSON API or store file.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from casework.contract import PUBLIC_TOPIC
from services.review.domain.opening import case_id_for
from services.transparency.domain.periods import quarter_of
from tests.fixtures.stack import Stack
from tests.support import eventually, topic_events
from tests.test_end_to_end import case_opened, token

pytestmark = pytest.mark.e2e

ACCOUNT = "Vandal1"  # a sandbox account (deploy/sandbox_wiki.py); the stack is this module's
# Private markers: each must never reach the portal.
REQUESTER = {"name": "Rita Privatename", "email": "rita.privatemail@example.org", "language": "en"}
ASKER = {"name": "Ivan Hiddenasker", "email": "ivan.hiddenmail@example.org", "language": "en"}
STAFF_COMMENT = "staffcomment-marker"
PRIVATE_EVIDENCE = "privateevidence-marker"
SIGNERS = [
    ("case-handler", "alice"),
    ("ts-manager", "bob"),
    ("legal-counsel", "carol"),
    ("director", "dave"),
]
MARKERS = (
    REQUESTER["name"],
    REQUESTER["email"],
    ASKER["name"],
    ASKER["email"],
    STAFF_COMMENT,
    PRIVATE_EVIDENCE,
    "demo-alice-token",
    *(f'"{staff}"' for _, staff in SIGNERS),  # a staff id as a JSON value or attribute
)
NO_DETERMINATION = "No legal determination was made in this case."
QUESTIONS = ["Which clause was the ban based on?", "Who reported the account?"]
ANSWERS = [
    {"outcome": "answered", "text": "Terms of Use section 4 and UCoC 3.1 (harassment)."},
    {"outcome": "refused", "text": "Naming the reporters could expose them to retaliation."},
]
# The README's decision (step 2), citing also the private evidence item, for staff alone.
DECISION = {
    "subject": {"account": ACCOUNT, "email": "vandal1@sandbox.test", "language": "en"},
    "grounds": ["tou-4-harassment", "ucoc-3-1"],
    "public_rationale": "Sustained harassment of several contributors.",
    "evidence": [{"id": "E1", "audiences": ["public"]}, {"id": "E2", "audiences": []}],
    "disclosure": {
        "answers": {
            "clauses": {"audiences": ["public"]},
            "where": {"audiences": ["public"]},
            "language-expertise": {"audiences": ["public"]},
            "public-actions": {"audiences": ["public"]},
            "legal-determination": {"audiences": [], "grounds": "no determination is shared"},
        }
    },
}


def walkthrough_request() -> dict[str, Any]:
    """Step 1 of the README, plus a private piece of evidence."""
    return {
        "action": "global-ban",
        "summary": f"{ACCOUNT} has harassed several editors across talk pages for months.",
        "subject": {"account": ACCOUNT},
        "evidence": [
            {
                "url": "http://127.0.0.1/index.php?diff=1",
                "description": "personal attack",
                "where": "on-wiki-public",
            },
            {
                "url": "https://example.org/private-chat-log",
                "description": f"threats in a private chat ({PRIVATE_EVIDENCE})",
                "where": "off-wiki-private",
            },
        ],
        "prior_attempts": ["http://127.0.0.1/index.php?title=Noticeboard"],
        "requester": REQUESTER,
    }


async def post_json(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> Any:
    async with http.post(url, json=body, headers=headers) as reply:
        found = await reply.json()
        assert reply.status in (201, 202), (url, reply.status, found)
        return found


async def enforce_walkthrough(http: aiohttp.ClientSession, stack: Stack) -> str:
    """Steps 1-3 of the README: the request, the decision, four sign-offs."""
    intake, review = stack.url("intake"), stack.url("review")
    submitted = await post_json(http, f"{intake}/api/v1/requests", walkthrough_request())
    case_id = case_id_for(submitted["reference"])
    await case_opened(http, stack, case_id)
    async with http.put(
        f"{review}/api/v1/cases/{case_id}/decision", json=DECISION, headers=token("alice")
    ) as reply:
        assert reply.status == 200, await reply.text()
    for level, staff in SIGNERS:
        signed = await post_json(
            http,
            f"{review}/api/v1/cases/{case_id}/signoffs",
            {"level": level, "verdict": "approve", "comment": f"{STAFF_COMMENT} {staff}"},
            token(staff),
        )
    assert signed["state"] == "approved"
    return case_id


async def ask_and_answer(http: aiohttp.ClientSession, stack: Stack, about: str) -> str:
    """One inquiry about the action, through intake; answered (one refused) in review."""
    body = {"refers_to": about, "questions": QUESTIONS, "requester": ASKER}
    asked = await post_json(http, f"{stack.url('intake')}/api/v1/submissions/inquiry", body)
    inquiry = case_id_for(asked["reference"])
    await case_opened(http, stack, inquiry)
    answered = await post_json(
        http,
        f"{stack.url('review')}/api/v1/cases/{inquiry}/inquiry-answers",
        {"answers": ANSWERS},
        token("alice"),
    )
    assert answered["state"] == "answered", answered
    return inquiry


async def fetch(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as reply:
        assert reply.status == 200, (url, reply.status)
        return await reply.text()


def shown(http: aiohttp.ClientSession, url: str, *wanted: str) -> Any:
    """A probe: the text at ``url`` once it contains every one of ``wanted``."""

    async def probe() -> str | None:
        async with http.get(url) as reply:
            text = await reply.text() if reply.status == 200 else ""
        return text if all(w in text for w in wanted) else None

    return probe


def words(page: str) -> str:
    """A page's text: tags dropped, entities read, white space collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def json_probe(http: aiohttp.ClientSession, url: str, ready: str) -> Any:
    """A probe: the JSON at ``url`` once it answers 200 with ``ready`` set (truthy)."""

    async def probe() -> Any:
        async with http.get(url) as reply:
            found = await reply.json() if reply.status == 200 else None
        return found if found and found.get(ready) else None

    return probe


@dataclass(frozen=True)
class Walked:
    case_id: str
    inquiry: str
    action: dict[str, Any]  # the portal's JSON of the action, once shown
    answered: dict[str, Any]  # the portal's JSON of the inquiry, once answered


@pytest.fixture(scope="module")
async def walked(stack: Stack) -> Walked:
    """The walk-through and the inquiry, each waited for until the portal shows it."""
    assert "transparency" in stack.services, "the stack starts the portal (SERVICE_ORDER)"
    portal = stack.url("transparency")
    async with aiohttp.ClientSession() as http:
        case_id = await enforce_walkthrough(http, stack)
        action = await eventually(
            json_probe(http, f"{portal}/api/v1/actions/{case_id}", "statements"),
            timeout=120,
            what=f"{case_id} on the portal",
        )
        inquiry = await ask_and_answer(http, stack, case_id)
        answered = await eventually(
            json_probe(http, f"{portal}/api/v1/inquiries/{inquiry}", "answers"),
            timeout=90,
            what=f"the answers to {inquiry} on the portal",
        )
    return Walked(case_id, inquiry, action, answered)


async def test_the_action_shows_with_its_five_answers(
    stack: Stack, walked: Walked, http: aiohttp.ClientSession
) -> None:
    action = walked.action
    assert (action["action_type"], action["account"], action["state"]) == (
        "global-ban",
        ACCOUNT,
        "in-force",
    )
    [english] = [s for s in action["statements"] if s["language"] == "en"]
    assert english["public_rationale"] == DECISION["public_rationale"]
    answers = {a["question"]: a for a in english["answers"]}
    assert list(answers) == list(DECISION["disclosure"]["answers"])  # type: ignore[index]
    # All five answered: the legal one says none was made (no counsel determined anything).
    assert all(a["disclosed"] for a in answers.values()), answers
    assert any("Terms of Use" in line for line in answers["clauses"]["lines"])
    assert answers["legal-determination"]["lines"] == [NO_DETERMINATION]
    assert any("personal attack" in line for line in answers["public-actions"]["lines"])
    page = words(await fetch(http, f"{stack.url('transparency')}/actions/{walked.case_id}"))
    assert ACCOUNT in page and NO_DETERMINATION in page and "personal attack" in page
    for answer in english["answers"]:
        assert answer["heading"] in page
    assert walked.inquiry in page, "the action's page lists the inquiry about it"


async def test_the_inquiry_shows_with_its_answers_and_no_asker(
    stack: Stack, walked: Walked, http: aiohttp.ClientSession
) -> None:
    answered = walked.answered
    assert answered["about_case_id"] == walked.case_id
    assert [(a["question"], a["outcome"], a["text"]) for a in answered["answers"]] == [
        (q, a["outcome"], a["text"]) for q, a in zip(QUESTIONS, ANSWERS, strict=True)
    ]
    assert answered["asker_name"] is None, "the asker did not choose to be named"
    assert answered["deadline_met"] is True
    portal = stack.url("transparency")
    page = words(await fetch(http, f"{portal}/inquiries/{walked.inquiry}"))
    for question, answer in zip(QUESTIONS, ANSWERS, strict=True):
        assert question in page and answer["text"] in page
    assert walked.inquiry in words(await fetch(http, f"{portal}/inquiries"))


def period_of(walked: Walked) -> tuple[int, int]:
    enforced = datetime.fromisoformat(walked.action["enforced_at"])
    return enforced.year, quarter_of(enforced)


async def test_the_quarter_s_report_counts_the_action_and_the_inquiry(
    stack: Stack, walked: Walked, http: aiohttp.ClientSession
) -> None:
    year, quarter = period_of(walked)
    portal = stack.url("transparency")
    url = f"{portal}/api/v1/reports/{year}?quarter={quarter}"
    report = json.loads(await fetch(http, url))
    assert (report["actions"], report["by_type"]) == (1, {"global-ban": 1})
    assert (report["appeals_filed"], report["reversals"]) == (0, 0)
    assert (report["inquiries_received"], report["inquiries_answered"]) == (1, 1)
    assert report["inquiry_questions"] == {
        "answered": 1,
        "refused": 1,
        "grounds": {ANSWERS[1]["text"]: 1},
    }
    assert {q: (t["answered"], t["refused"]) for q, t in report["statement_questions"].items()} == {
        q: (1, 0)
        for q in DECISION["disclosure"]["answers"]  # type: ignore[index]
    }
    page = words(await fetch(http, f"{portal}/reports/{year}/{quarter}"))
    assert "global-ban 1" in page, "the report's row of counts per action type"
    csv = await fetch(http, f"{portal}/reports/{year}/{quarter}.csv")
    assert "global-ban" in csv


def portal_urls(walked: Walked) -> list[str]:
    year, quarter = period_of(walked)
    pages = ["/", "/inquiries", f"/reports/{year}", f"/reports/{year}/{quarter}"]
    pages += [f"/actions/{walked.case_id}", f"/inquiries/{walked.inquiry}"]
    return [
        *(f"{p}?lang={lang}" for p in pages for lang in ("en", "ru")),
        f"/reports/{year}.csv",
        f"/reports/{year}/{quarter}.csv",
        "/feed.atom",
        "/api/v1/actions",
        f"/api/v1/actions/{walked.case_id}",
        "/api/v1/inquiries",
        f"/api/v1/inquiries/{walked.inquiry}",
        f"/api/v1/reports/{year}",
    ]


def leaks(text: str) -> list[str]:
    """The private markers in ``text``, a staff id only as a whole word."""
    found = [m for m in MARKERS if m.lower() in text.lower()]
    found += [s for _, s in SIGNERS if re.search(rf"\b{s}\b", text, re.IGNORECASE)]
    return found


async def test_nothing_private_on_the_portal_its_topic_or_in_its_store(
    stack: Stack, walked: Walked, http: aiohttp.ClientSession
) -> None:
    portal = stack.url("transparency")
    for path in portal_urls(walked):
        text = await fetch(http, f"{portal}{path}")
        assert leaks(text) == [], path
    events = await topic_events(stack.broker.bootstrap, PUBLIC_TOPIC)
    assert {e.subject for e in events} >= {walked.case_id, walked.inquiry}
    for event in events:
        assert leaks(json.dumps(event.data, ensure_ascii=False)) == [], event.type
    files = sorted(stack.data_dir.glob("transparency.sqlite3*"))
    assert files, "the portal keeps a SQLite store under the stack's data directory"
    kept = "".join(f.read_bytes().decode("utf-8", errors="replace") for f in files)
    assert walked.case_id in kept and ANSWERS[0]["text"] in kept  # the check can see text
    assert leaks(kept) == []
