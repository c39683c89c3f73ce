"""The public portal in a real headless Chromium: a full-page screenshot of every page and
an accessibility check with axe-core (npm, tests/a11y) run in that browser.

The portal runs as its own process (`python -m services.transparency`, as `make run`
starts it) on a broker of the module's own, and is fed only the way notify feeds it: the
public-level events published on officeactions.public. Among them an English case and a
Russian one (its statement in both languages), an answered inquiry, a held-back one, an
appeal and a reversal. axe-core is put into each page with ``page.evaluate`` (the
portal's CSP forbids every script tag, and the page is checked under that CSP); every
serious or critical violation fails the test, the others are printed, and all results
are kept in var/test-artefacts/transparency-axe.json beside the screenshots.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from casework.contract import PUBLIC_TOPIC, EventData, to_cloudevent
from casework.contract.public import (
    AppealDecided,
    AppealFiled,
    DsaStatementSubmitted,
    InquiryAnswerPublished,
    InquiryReceived,
    LogEntry,
    PublicAnswer,
    PublicInquiryAnswer,
    PublicStatement,
    ReversalPublished,
    StatementPublished,
)
from casework.kafka import EventPublisher, KafkaSettings
from deploy.broker import TansuBroker
from deploy.stack import REPO_ROOT, ServiceProcess
from tests.fixtures.browser import artefact_path
from tests.support import eventually, free_port, missing_part

AXE = REPO_ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
T0 = datetime(2026, 5, 12, 9, 30, tzinfo=UTC)  # the second quarter of 2026
EN_CASE, RU_CASE, REVERSED_CASE = "OA-ENGLISHCASE2", "OA-RUSSIANCASE2", "OA-REVERSEDCASE"
INQUIRY, HELD_BACK, APPEAL = "OA-INQUIRYCASE2", "OA-HELDBACKCASE", "AP-APPEALEDCASE"
ACCOUNTS = {EN_CASE: "Harasser Nine", RU_CASE: "Участник Пример", REVERSED_CASE: "Mistaken Editor"}


@pytest.fixture(scope="module")
def broker() -> Iterator[TansuBroker]:
    """A broker of its own: the portal reads the fixed officeactions.public topic."""
    own = TansuBroker(free_port())
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def publisher_settings(broker: TansuBroker) -> KafkaSettings:
    """The shared publisher fixture publishes on this module's own broker."""
    return broker.settings(client_id="test-portal-pub")


@pytest.fixture(scope="module")
def portal(
    broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    data_dir = tmp_path_factory.mktemp("portal")
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "KAFKA_SESSION_TIMEOUT_MS": "1500",
        "CASEWORK_DATA_DIR": str(data_dir),
        "TRANSPARENCY_PORT": str(port),
        "INTAKE_PUBLIC_URL": "http://intake.example.test",
    }
    process = ServiceProcess("transparency", port, env, Path(data_dir) / "logs")
    process.start()
    try:
        process.wait_healthy(60)
        yield process
    finally:
        process.stop()


def _answer(
    question: str, heading: str, lines: list[str] | None, grounds: str = ""
) -> PublicAnswer:
    if lines is None:
        return PublicAnswer(question=question, heading=heading, disclosed=False, grounds=grounds)
    return PublicAnswer(question=question, heading=heading, disclosed=True, lines=lines)


def _english_answers() -> list[PublicAnswer]:
    return [
        _answer("clauses", "Which clauses were breached", ["Terms of Use §4: harassment."]),
        _answer(
            "where", "Where the acts happened", None, "Naming the pages would identify a victim."
        ),
        _answer(
            "language-expertise",
            "Whether the reviewers had the community's language",
            ["Yes: two fluent reviewers."],
        ),
        _answer(
            "public-actions",
            "Which publicly visible actions were considered",
            ["Edits on en.wikipedia between March and May."],
        ),
        _answer(
            "legal-determination", "The legal determination", None, "Legal advice is privileged."
        ),
    ]


def _russian_answers() -> list[PublicAnswer]:
    return [
        _answer(
            "clauses", "Какие пункты правил нарушены", ["Условия использования §4: преследование."]
        ),
        _answer("where", "Где совершены действия", ["Русская Википедия, страницы обсуждения."]),
        _answer(
            "language-expertise",
            "Владели ли рецензенты языком сообщества",
            ["Да: два рецензента свободно владеют русским."],
        ),
        _answer(
            "public-actions",
            "Какие публично видимые действия рассматривались",
            ["Правки с марта по май."],
        ),
        _answer(
            "legal-determination",
            "Юридическое заключение",
            None,
            "Юридическая консультация конфиденциальна.",
        ),
    ]


def _statement(
    case_id: str, action_type: str, language: str, texts: list[PublicStatement], at: datetime
) -> StatementPublished:
    return StatementPublished(
        case_id=case_id,
        revision=1,
        action_type=action_type,
        account=ACCOUNTS[case_id],
        wikis=["ruwiki"] if language == "ru" else ["enwiki"],
        enforced_on=["ruwiki"] if language == "ru" else ["enwiki"],
        language=language,
        appealable=True,
        requested_at=at - timedelta(days=9),
        deadline_at=at - timedelta(days=1),
        decided_at=at - timedelta(days=2),
        enforced_at=at - timedelta(days=2),
        statements=texts,
        log_entry=LogEntry(
            page="Office actions log",
            revision_id=4711,
            url=f"http://wiki.example.test/index.php?oldid=4711#{case_id}",
        ),
        published_at=at,
    )


def statements() -> list[EventData]:
    english = PublicStatement(
        language="en",
        action_title="Global ban",
        public_rationale="Sustained cross-wiki harassment of several editors.",
        answers=_english_answers(),
    )
    lock_en = PublicStatement(
        language="en",
        action_title="Global lock",
        public_rationale="Harassment on the Russian Wikipedia.",
        answers=_english_answers(),
    )
    lock_ru = PublicStatement(
        language="ru",
        action_title="Глобальная блокировка учётной записи",
        public_rationale="Преследование участников в Русской Википедии.",
        answers=_russian_answers(),
    )
    return [
        _statement(EN_CASE, "global-ban", "en", [english], T0),
        _statement(RU_CASE, "global-lock", "ru", [lock_en, lock_ru], T0 + timedelta(days=3)),
        _statement(REVERSED_CASE, "global-ban", "en", [english], T0 + timedelta(days=4)),
        DsaStatementSubmitted(
            case_id=EN_CASE,
            revision=1,
            puid="6f1c2d3e-4b5a-5c6d-8e7f-a1b2c3d4e5f6",
            dsa_id="9b0d7c66-1e2f-4a3b-9c8d-7e6f5a4b3c2d",
            submitted_at=T0 + timedelta(hours=1),
        ),
    ]


def appeals_and_inquiries() -> list[EventData]:
    later = T0 + timedelta(days=6)
    return [
        AppealFiled(case_id=APPEAL, about_case_id=REVERSED_CASE, filed_at=later),
        AppealDecided(
            case_id=APPEAL,
            about_case_id=REVERSED_CASE,
            outcome="upheld",
            decided_at=later + timedelta(days=5),
        ),
        ReversalPublished(
            case_id=REVERSED_CASE,
            reason="Upheld on appeal: the edits were another person's.",
            grounds="appeal-upheld",
            appeal_case_id=APPEAL,
            reversed_at=later + timedelta(days=5),
            published_at=later + timedelta(days=5),
        ),
        InquiryReceived(
            case_id=INQUIRY,
            about_case_id=RU_CASE,
            asked_at=later,
            deadline_at=later + timedelta(days=14),
            question_count=2,
        ),
        InquiryAnswerPublished(
            case_id=INQUIRY,
            about_case_id=RU_CASE,
            language="ru",
            asker_name="Анна Публичная",
            asked_at=later,
            deadline_at=later + timedelta(days=14),
            answered_at=later + timedelta(days=8),
            answers=[
                PublicInquiryAnswer(
                    question="Какие пункты правил нарушены?",
                    outcome="answered",
                    text="Условия использования §4.",
                ),
                PublicInquiryAnswer(
                    question="Кто подал жалобу?",
                    outcome="refused",
                    text="Не раскрывается: это назвало бы заявителя.",
                ),
            ],
        ),
        InquiryReceived(case_id=HELD_BACK, about_case_id=EN_CASE, asked_at=later, question_count=1),
        InquiryAnswerPublished(
            case_id=HELD_BACK,
            about_case_id=EN_CASE,
            asked_at=later,
            answered_at=later + timedelta(days=2),
            held_back=True,
            held_back_grounds="The question names a third party.",
        ),
    ]


@dataclass(frozen=True)
class Shown:
    """One page of the portal to look at: its screenshot's name, where, text it must show
    and the language it must declare (<html lang>, read out by screen readers)."""

    slug: str
    path: str
    expect: str
    lang: str = "en"

    @property
    def url(self) -> str:
        """The path in its language, chosen explicitly (the choice is kept in a cookie)."""
        return f"{self.path}{'&' if '?' in self.path else '?'}lang={self.lang}"


PAGES = (
    Shown("list", "/", EN_CASE),
    Shown("list-filtered", "/?type=global-lock&year=2026", RU_CASE),
    Shown("action-en", f"/actions/{EN_CASE}", "Which clauses were breached"),
    Shown("action-ru-en", f"/actions/{RU_CASE}", "Global lock"),
    Shown("action-ru", f"/actions/{RU_CASE}", "Какие пункты правил нарушены", "ru"),
    Shown("action-reversed", f"/actions/{REVERSED_CASE}", "another person"),
    Shown("inquiries", "/inquiries", INQUIRY),
    Shown("inquiry", f"/inquiries/{INQUIRY}", "Кто подал жалобу?", "ru"),
    Shown("inquiry-held-back", f"/inquiries/{HELD_BACK}", "names a third party"),
    Shown("report-year", "/reports/2026", "2026"),
    Shown("report-quarter", "/reports/2026/2", "2026"),
)


async def fed(portal: ServiceProcess, publisher: EventPublisher) -> None:
    """Every event on officeactions.public, then wait until the portal shows them all."""
    for data in [*statements(), *appeals_and_inquiries()]:
        await publisher.publish(PUBLIC_TOPIC, to_cloudevent(data))

    async def everything_read() -> bool:
        async with aiohttp.ClientSession() as http:
            shown = ""
            for path in ("/api/v1/actions", "/api/v1/inquiries"):
                async with http.get(f"{portal.url}{path}") as reply:
                    shown += await reply.text() if reply.status == 200 else ""
        wanted = (EN_CASE, RU_CASE, REVERSED_CASE, INQUIRY, HELD_BACK)
        return all(case in shown for case in wanted)

    await eventually(everything_read, timeout=30, what="the portal to fold every event")


async def axe_results(page: Page) -> dict[str, Any]:
    """axe-core run in the page as the reader gets it (its CSP in force: evaluate is not a
    script tag)."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    results: dict[str, Any] = await page.evaluate(
        "axe.run(document, {resultTypes: ['violations']})"
    )
    assert results["passes"], "axe checked nothing on the page"
    return results


def summary(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at "
        + ", ".join(" ".join(n["target"]) for n in v["nodes"][:3])
        for v in violations
    ]


@pytest.mark.timeout(150)  # the portal's and Chromium's start-up included; the pages < 90 s
async def test_every_page_screenshot_and_no_serious_axe_violation(
    portal: ServiceProcess, publisher: EventPublisher, page: Page
) -> None:
    if not AXE.is_file():
        missing_part("axe-core is not installed: `make deps` runs npm ci in tests/a11y")
    started = time.monotonic()
    await fed(portal, publisher)
    report: dict[str, Any] = {}
    blocking: list[str] = []
    for shown in PAGES:
        reply = await page.goto(f"{portal.url}{shown.url}")
        assert reply is not None and reply.status == 200, (shown.url, reply and reply.status)
        assert shown.expect in await page.locator("body").inner_text(), shown.url
        assert await page.get_attribute("html", "lang") == shown.lang, shown.url
        await page.screenshot(
            path=str(artefact_path(f"transparency-{shown.slug}.png")), full_page=True
        )
        violations = (await axe_results(page))["violations"]
        report[shown.url] = violations
        lines = summary(violations)
        print(f"{shown.url}: {len(violations)} axe violation(s)", *lines, sep="\n  ")
        blocking += [f"{shown.url}: {line}" for line in lines if line.startswith(BLOCKING)]
    artefact_path("transparency-axe.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    assert blocking == []
    assert time.monotonic() - started < 90
