"""Notify's wiring: the one place its parts are put together."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from casework.assertion_auth import AssertionGate
from casework.cloudevents import CloudEvent
from casework.contract import ActionEnforced, Audience, DecisionApproved, topic_of
from casework.http import make_app
from casework.mediawiki import MediaWikiClient
from casework.reconcile import one_case_at_a_time
from casework.reconcile_wiring import reconcile_from
from casework.runtime import Duty, Kit, Wiring
from casework.signing import load_public_keys
from casework.trust import ReviewAuthority
from services.notify.deliveries import (
    DELIVERIES,
    Deliveries,
    address_free_key,
    idempotency_key,
)
from services.notify.functionaries import load_functionaries
from services.notify.handlers import (
    CASES,
    EARLY_ENFORCED,
    LUMEN_NOTICES,
    STATEMENTS,
    Notifier,
    _early_id,
)
from services.notify.log_page import keep_protected
from services.notify.mailer import Mailer, SmtpSettings
from services.notify.render import environment
from services.notify.settings import NotifySettings
from services.notify.submission import TransparencySubmitter
from services.notify.transparency import DsaClient, LumenClient

log = logging.getLogger(__name__)


def delivery_routes(deliveries: Deliveries) -> web.RouteTableDef:
    """Where each message of a case went, in which state: no address, no body."""
    routes = web.RouteTableDef()

    @routes.get("/api/v1/cases/{case_id}/deliveries")
    async def of_case(request: web.Request) -> web.Response:
        docs = await deliveries.of_case(request.match_info["case_id"])
        return web.json_response(
            {
                "deliveries": [
                    {
                        "key": d["_id"],
                        "audience": d.get("audience"),
                        "channel": d.get("channel"),
                        "state": d.get("state"),
                        "reference": d.get("reference"),
                        "attempts": d.get("attempts"),
                        "permanent": d.get("permanent", False),
                    }
                    for d in docs
                    if address_free_key(d["_id"]) is None  # an old copy not yet removed
                ]
            }
        )

    return routes


async def wire(kit: Kit) -> Wiring:
    settings = kit.settings
    assert isinstance(settings, NotifySettings)
    mailer = Mailer(
        SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            sender=settings.mail_from,
            attempts=settings.smtp_attempts,
            backoff_seconds=settings.smtp_backoff_seconds,
            connections=settings.smtp_connections,
        )
    )
    for collection, field in (
        (DELIVERIES, "case_id"),
        (DELIVERIES, "state"),
        (STATEMENTS, "state"),
        (LUMEN_NOTICES, "state"),
        (EARLY_ENFORCED, "told"),
    ):
        await kit.store.ensure_index(collection, field)
    resources = AsyncExitStack()
    resources.push_async_callback(mailer.close)
    wiki = await resources.enter_async_context(
        MediaWikiClient(settings.statement_wiki_api, settings.wiki_username, settings.wiki_password)
    )
    notifier = Notifier(
        kit.store,
        kit.relay,
        kit.policy,
        environment(),
        mailer,
        wiki,
        settings.public_log_page,
        ReviewAuthority.from_settings(settings, kit.policy),
        load_functionaries(settings.functionaries_file),
    )
    notifier.owns = kit.ownership.owns
    # Keys once named functionaries' addresses; move stored ones before any event is read.
    await notifier.deliveries.rekey_addresses(list(notifier.functionaries.wikis))

    async def release_overdue() -> None:
        while True:
            await asyncio.sleep(60)
            try:
                await notifier.release_overdue_enforced()
            except Exception:
                log.exception("releasing overdue enforcements failed; next try in 60 s")

    duties: list[Duty] = [release_overdue]  # each instance, for the cases it owns
    duties.append(keep_protected(wiki, settings.public_log_page))
    once: dict[str, Duty] = {}
    if settings.dsa_api_url or settings.lumen_api_url:
        session = await resources.enter_async_context(aiohttp.ClientSession())
        dsa_client = (
            DsaClient(session, settings.dsa_api_url, settings.dsa_api_token or "")
            if settings.dsa_api_url
            else None
        )
        lumen_client = (
            LumenClient(session, settings.lumen_api_url, settings.lumen_api_token or "")
            if settings.lumen_api_url
            else None
        )
        submitter = TransparencySubmitter(
            kit.store, dsa_client, lumen_client, settings.transparency_interval_seconds
        )
        once["transparency-submission"] = submitter.run
    checks = {
        **kit.health_checks,
        "smtp": mailer.ping,
        "wiki": wiki.ping,
    }
    app = make_app(registry=kit.registry, health_checks=checks)
    # The API is for staff: a review-signed assertion for "notify" with a role that may
    # read cases (policy access.audiences.notify).
    gate = AssertionGate(
        load_public_keys(settings.review_public_key_files),
        audience="notify",
        allowed=lambda roles: kit.policy.access.may_use("notify", roles),
        clock=lambda: datetime.now(UTC),
    )
    app.middlewares.append(gate.middleware(lambda request: request.path.startswith("/api/")))
    app.add_routes(delivery_routes(notifier.deliveries))

    # The consumer and the reconciliation duty: one event of a case at a time.
    handle = one_case_at_a_time(notifier.handle)

    async def told(event: CloudEvent) -> bool:
        # The public statement settled (sent, withheld), or the enforcement held until
        # review's approval is read (release_overdue alerts if it never is).
        enforced = ActionEnforced.model_validate(event.data)
        revision = enforced.decision.revision
        key = idempotency_key(enforced.case_id, Audience.PUBLIC, "wiki-page", f"r{revision}")
        statement = await notifier.deliveries.get(key)
        if statement is not None and statement["state"] != "sending":
            return True
        return (
            await kit.store.get(EARLY_ENFORCED, _early_id(enforced.case_id, revision)) is not None
        )

    async def read(event: CloudEvent) -> bool:
        # Review's signed approval kept (what notify tells from, with its sign-offs).
        approved = DecisionApproved.model_validate(event.data)
        case = await kit.store.get(CASES, approved.case_id)
        return case is not None and f"signoffs_r{approved.decision.revision}" in case

    once.update(
        reconcile_from(kit, "enforcement", [ActionEnforced.TYPE], handled=told, handle=handle)
    )
    review_ledger = (settings.review_ledger_url, settings.review_ledger_token)
    once.update(
        reconcile_from(
            kit,
            "review",
            [DecisionApproved.TYPE],
            handled=read,
            handle=handle,
            ledger=review_ledger,
        )
    )
    return Wiring(
        app=app,
        consumes=[topic_of(s) for s in ("intake", "review", "enforcement", "monitor")],
        handle=handle,
        duties=duties,
        once=once,
        on_stop=[resources.aclose],
    )
