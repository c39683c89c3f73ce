"""Intake's web form in a real headless Chromium (Debian's), with JavaScript switched off.

Real parts: Chromium through Playwright, the intake service in this process (SQLite,
outbox relay) and the Tansu broker its events go to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from casework.contract import SubmissionKind
from tests.fixtures.browser import artefact_path
from tests.test_intake_api import EXAMPLES, Intake, intake, the_event  # noqa: F401

REFERENCE = r"R-[A-Z2-7]{12}"


@pytest.fixture
async def nojs(browser: Browser) -> AsyncIterator[Page]:
    """A page with JavaScript off: the form must work without it."""
    context = await browser.new_context(locale="en-GB", java_script_enabled=False)
    page = await context.new_page()
    yield page
    await context.close()


def form_values(body: dict[str, Any]) -> dict[str, Any]:
    """An API body as the form's fields: dotted names; string lists one per line."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key == "evidence":
            for i, item in enumerate(value):
                for part, text in item.items():
                    out[f"evidence.{i}.{part}"] = text
        elif isinstance(value, dict):
            for part, inner in value.items():
                out[f"{key}.{part}"] = "\n".join(inner) if isinstance(inner, list) else inner
        elif isinstance(value, list):
            out[key] = "\n".join(value)
        else:
            out[key] = value
    return out


async def fill(page: Page, values: dict[str, Any]) -> None:
    for name, value in values.items():
        control = page.locator(f'[name="{name}"]')
        tag = await control.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
        if tag.startswith("select"):
            await control.select_option(str(value))
        elif tag == "input:checkbox":
            if value:
                await control.check()
        else:
            await control.fill(str(value))


async def submit(page: Page) -> None:
    async with page.expect_navigation():
        await page.get_by_role("button", name="Send").click()


async def reference_on(page: Page) -> str:
    """The reference the success page shows; the page's errors when there is none."""
    shown = page.locator("#reference")
    assert await shown.count() == 1, await page.locator("main").inner_text()
    return (await shown.inner_text()).strip()


@pytest.mark.parametrize("kind", list(SubmissionKind))
async def test_every_kind_filled_in_and_sent_shows_the_reference(
    intake: Intake, nojs: Page, kind: SubmissionKind
) -> None:
    await nojs.goto(f"{intake.url}/submit/{kind.value}")
    await fill(nojs, form_values(EXAMPLES[kind]))
    await submit(nojs)
    reference = await reference_on(nojs)
    assert nojs.url.endswith(f"/submit/received/{reference}")
    event = await the_event(intake, reference)
    assert event.data["kind"] == kind.value
    assert event.data["channel"] == "form"
    if kind is SubmissionKind.REQUEST:
        await nojs.screenshot(path=artefact_path("intake-form-received.png"), full_page=True)
        assert event.data["evidence"] == EXAMPLES[kind]["evidence"]
        assert event.data["requester"]["email"] == "rita@example.org"
        # The confirmation page links to the requester's tracking page (no JavaScript).
        async with nojs.expect_navigation():
            await nojs.get_by_role("link", name="Follow your submission").click()
        assert nojs.url.endswith(f"/submissions/{reference}")
        assert await nojs.locator("#status").inner_text() == "Where it stands now: Received"


async def test_errors_are_shown_next_to_their_fields_and_typed_values_are_kept(
    intake: Intake, nojs: Page
) -> None:
    before = len(await intake.documents())
    await nojs.goto(f"{intake.url}/submit/request")
    values = form_values(EXAMPLES[SubmissionKind.REQUEST])
    values["summary"] = "Too short"
    values["requester.email"] = "rita at example"
    values["prior_attempts"] = ""
    await fill(nojs, values)
    await submit(nojs)

    assert await nojs.get_by_role("alert").is_visible()
    for name in ("summary", "requester.email"):
        await assert_error_next_to(nojs, name)
    assert "at least 20 characters" in await nojs.locator("#f-summary-error").inner_text()
    assert "name@example.org" in await nojs.locator("#f-requester-email-error").inner_text()
    # What was typed is still there, including the fields without errors.
    assert await nojs.locator("#f-summary").input_value() == "Too short"
    assert await nojs.locator("#f-requester-email").input_value() == "rita at example"
    assert await nojs.locator("#f-subject-account").input_value() == "Troublesome Editor"
    assert await nojs.locator("#f-evidence-1-where").input_value() == "off-wiki-private"
    await nojs.screenshot(path=artefact_path("intake-form-errors.png"), full_page=True)
    assert len(await intake.documents()) == before

    # Corrected on the same page, the policy's rule on earlier attempts is next.
    await nojs.locator("#f-summary").fill(EXAMPLES[SubmissionKind.REQUEST]["summary"])
    await nojs.locator("#f-requester-email").fill("rita@example.org")
    await submit(nojs)
    await assert_error_next_to(nojs, "prior_attempts")
    assert "earlier attempts" in await nojs.locator("#f-prior_attempts-error").inner_text()
    assert len(await intake.documents()) == before
    await nojs.locator("#f-prior_attempts").fill("http://127.0.0.1:8090/index.php?oldid=7")
    await submit(nojs)
    reference = await reference_on(nojs)
    await the_event(intake, reference)


async def assert_error_next_to(page: Page, name: str) -> None:
    """The field is marked invalid, its error is visible and linked by aria-describedby."""
    field_id = "f-" + name.replace(".", "-")
    control = page.locator(f"#{field_id}")
    assert await control.get_attribute("aria-invalid") == "true", name
    described = (await control.get_attribute("aria-describedby") or "").split()
    assert f"{field_id}-error" in described
    error = page.locator(f"#{field_id}-error")
    assert await error.is_visible()
    assert (await error.inner_text()).strip()
    assert await page.locator(f'label[for="{field_id}"]').count() == 1


@pytest.mark.parametrize("kind", list(SubmissionKind))
async def test_every_control_of_every_form_has_a_label(
    intake: Intake, nojs: Page, kind: SubmissionKind
) -> None:
    await nojs.goto(f"{intake.url}/submit/{kind.value}")
    controls = nojs.locator("input:not([type=hidden]), select, textarea")
    assert await controls.count() > 0
    for i in range(await controls.count()):
        field_id = await controls.nth(i).get_attribute("id")
        assert field_id, await controls.nth(i).evaluate("e => e.outerHTML")
        label = nojs.locator(f'label[for="{field_id}"]')
        assert await label.count() == 1, field_id
        assert (await label.inner_text()).strip()


async def test_the_form_in_russian_from_the_browser_or_the_switch(
    intake: Intake, browser: Browser
) -> None:
    context = await browser.new_context(locale="ru-RU", java_script_enabled=False)
    try:
        page = await context.new_page()
        await page.goto(f"{intake.url}/submit/inquiry")
        assert await page.locator("html").get_attribute("lang") == "ru"
        assert await page.locator('label[for="f-questions"]').inner_text() == (
            "Ваши вопросы (по одному в строке) (обязательно)"
        )
        await page.get_by_role("button", name="Отправить").click()
        assert (
            "Укажите хотя бы одно значение."
            in await page.locator("#f-questions-error").inner_text()
        )
        await page.screenshot(path=artefact_path("intake-form-ru.png"), full_page=True)

        # The switch wins over the browser's language and is remembered.
        await page.goto(f"{intake.url}/submit/inquiry?lang=en")
        assert await page.locator("html").get_attribute("lang") == "en"
        await page.goto(f"{intake.url}/submit")
        assert await page.locator("html").get_attribute("lang") == "en"
        await page.get_by_role("link", name="Русский").click()
        assert await page.locator("h1").inner_text() == "Обращение в группу офисных действий"
    finally:
        await context.close()


async def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(
    intake: Intake, http: aiohttp.ClientSession, nojs: Page
) -> None:
    before = len(await intake.documents())
    data = {**form_values(EXAMPLES[SubmissionKind.INQUIRY]), "submission_key": "k1"}
    async with http.post(f"{intake.url}/submit/inquiry", data=data) as reply:
        assert reply.status == 403
        assert "Nothing was saved" in await reply.text()
    forged = {**data, "csrf_token": "abc.def"}
    async with http.post(
        f"{intake.url}/submit/inquiry", data=forged, headers={"Cookie": "intake_csrf=abc.def"}
    ) as reply:
        assert reply.status == 403
    # A real token from another page in the field, but no cookie (a cross-site post).
    await nojs.goto(f"{intake.url}/submit/inquiry")
    token = await nojs.locator('input[name="csrf_token"]').get_attribute("value")
    async with (
        aiohttp.ClientSession() as stranger,
        stranger.post(
            f"{intake.url}/submit/inquiry", data={**data, "csrf_token": token or ""}
        ) as reply,
    ):
        assert reply.status == 403
    assert len(await intake.documents()) == before
