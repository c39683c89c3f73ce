"""Notify's wiring: the one place its parts are put together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from jinja2 import Environment

from casework.assertion_auth import AssertionGate
from casework.claims import Claimant
from casework.cloudevents import CloudEvent
from casework.contract import ActionEnforced, DecisionApproved, DuplicateMerged
from casework.dispatch import consumed_topics, dispatcher
from casework.http import make_app
from casework.mediawiki import MediaWikiClient
from casework.outbox import OutboxRelay
from casework.periodic import every
from casework.policy import Policy
from casework.reconcile import one_case_at_a_time
from casework.reconcile_wiring import reconcile_from
from casework.runtime import Duty, Handler, Kit, Wiring
from casework.signing import load_public_keys
from casework.store import DocumentStore
from casework.trust import ReviewAuthority
from services.notify.adapters.collections import (
    CASES,
    EARLY_ENFORCED,
    LUMEN_NOTICES,
    STATEMENTS,
)
from services.notify.adapters.deliveries import DELIVERIES, Deliveries
from services.notify.adapters.functionaries import load_functionaries
from services.notify.adapters.log_page import LogPages, keep_protected
from services.notify.adapters.smtp import Mailer, SmtpSettings
from services.notify.adapters.transparency import DsaClient, LumenClient
from services.notify.domain.functionaries import Functionaries
from services.notify.domain.render import environment
from services.notify.entrypoints.http import delivery_routes
from services.notify.handlers import HANDLERS
from services.notify.settings import NotifySettings
from services.notify.usecases import Notify
from services.notify.usecases.decisions import Decisions
from services.notify.usecases.enforcement import Enforcement
from services.notify.usecases.ops_alerts import OpsAlerts
from services.notify.usecases.public_records import PublicRecords
from services.notify.usecases.requesters import Requesters
from services.notify.usecases.sender import Clock, Sender, utcnow
from services.notify.usecases.transparency_records import (
    StatementLog,
    StatementWiki,
    TransparencyRecords,
)
from services.notify.usecases.transparency_submission import TransparencySubmitter

log = logging.getLogger(__name__)

# How often held enforcements are checked for an approval that never came.
RELEASE_OVERDUE_SECONDS = 60.0


def build(
    store: DocumentStore,
    relay: OutboxRelay,
    policy: Policy,
    templates: Environment,
    mailer: Mailer,
    wiki: StatementWiki,
    log_pages: StatementLog,
    functionaries: Functionaries | None = None,
    *,
    owns: Callable[[str], bool] = lambda case_id: True,
    clock: Clock = utcnow,
    claimant: Claimant | None = None,
    wiki_index_url: str | None = None,
) -> Notify:
    """Notify's use cases over one sender (``owns``: the cases this instance releases;
    ``claimant``: this instance, claiming each message while it sends it;
    ``wiki_index_url``: the log page's wiki, for the portal's links to its entries)."""
    sender = Sender(store, relay, mailer, Deliveries(store, claimant), clock)
    public = PublicRecords(sender, policy, templates, wiki_index_url)
    records = TransparencyRecords(sender, policy, templates, wiki, log_pages, public)
    requesters = Requesters(sender, policy, templates, public)
    enforcement = Enforcement(sender, policy, templates, records, owns)
    decisions = Decisions(
        sender,
        policy,
        templates,
        functionaries or Functionaries(),
        requesters,
        enforcement,
        records,
    )
    return Notify(
        sender=sender,
        ops_alerts=OpsAlerts(sender, templates),
        requesters=requesters,
        decisions=decisions,
        enforcement=enforcement,
        records=records,
    )


def mailer_of(settings: NotifySettings) -> Mailer:
    return Mailer(
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


async def transparency_duties(
    kit: Kit, settings: NotifySettings, resources: AsyncExitStack
) -> dict[str, Duty]:
    """The submission of DSA statements and Lumen notices, where an API is configured."""
    if not (settings.dsa_api_url or settings.lumen_api_url):
        return {}
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
    submitter = TransparencySubmitter(kit.store, dsa_client, lumen_client)
    name = "transparency-submission"
    interval = settings.transparency_interval_seconds
    return {name: every(name, interval, submitter.flush, registry=kit.registry)}


def http_app(
    kit: Kit, settings: NotifySettings, notify: Notify, mailer: Mailer, wiki: MediaWikiClient
) -> web.Application:
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
    app.add_routes(delivery_routes(notify.sender.deliveries))
    return app


def reconciliation(
    kit: Kit, settings: NotifySettings, notify: Notify, handle: Handler
) -> dict[str, Duty]:
    async def told(event: CloudEvent) -> bool:
        return await notify.enforcement.settled(ActionEnforced.model_validate(event.data))

    async def read(event: CloudEvent) -> bool:
        if event.type == DuplicateMerged.TYPE:
            return await notify.requesters.merge_known(DuplicateMerged.model_validate(event.data))
        return await notify.decisions.kept(DecisionApproved.model_validate(event.data))

    duties = reconcile_from(kit, "enforcement", [ActionEnforced.TYPE], handled=told, handle=handle)
    review_ledger = (settings.review_ledger_url, settings.review_ledger_token)
    duties.update(
        reconcile_from(
            kit,
            "review",
            [DecisionApproved.TYPE, DuplicateMerged.TYPE],
            handled=read,
            handle=handle,
            ledger=review_ledger,
        )
    )
    return duties


async def ensure_indexes(store: DocumentStore) -> None:
    for collection, field in (
        (DELIVERIES, "case_id"),
        (DELIVERIES, "state"),
        (STATEMENTS, "state"),
        (LUMEN_NOTICES, "state"),
        (EARLY_ENFORCED, "told"),
        # Appeals and inquiries found by the case they refer to, or by their submission.
        (CASES, "linked_to"),
        (CASES, "submission_id"),
    ):
        await store.ensure_index(collection, field)


async def wire(kit: Kit) -> Wiring:
    settings = kit.settings
    assert isinstance(settings, NotifySettings)
    mailer = mailer_of(settings)
    await ensure_indexes(kit.store)
    resources = AsyncExitStack()
    resources.push_async_callback(mailer.close)
    wiki = await resources.enter_async_context(
        MediaWikiClient(settings.statement_wiki_api, settings.wiki_username, settings.wiki_password)
    )
    functionaries = load_functionaries(settings.functionaries_file)
    log_pages = LogPages(
        wiki,
        settings.public_log_page,
        settings.public_log_page_max_bytes,
        kit.store,
        kit.claimant,
    )
    notify = build(
        kit.store,
        kit.relay,
        kit.policy,
        environment(),
        mailer,
        wiki,
        log_pages,
        functionaries,
        owns=kit.ownership.owns,
        claimant=kit.claimant,
        wiki_index_url=settings.wiki_index_url(),
    )
    # Keys once named functionaries' addresses; move stored ones before any event is read.
    await notify.sender.deliveries.rekey_addresses(list(functionaries.wikis))
    release_overdue = every(
        "release-overdue-enforced",
        RELEASE_OVERDUE_SECONDS,
        notify.enforcement.release_overdue_enforced,
        registry=kit.registry,
        first_after=RELEASE_OVERDUE_SECONDS,
    )
    duties: list[Duty] = [release_overdue]  # each instance, for the cases it owns
    duties.append(keep_protected(log_pages))
    once = await transparency_duties(kit, settings, resources)
    app = http_app(kit, settings, notify, mailer, wiki)
    # The consumer and the reconciliation duty: one event of a case at a time.
    admit = ReviewAuthority.from_settings(settings, kit.policy).admit
    handle = one_case_at_a_time(dispatcher(HANDLERS, notify, admit))
    once.update(reconciliation(kit, settings, notify, handle))
    return Wiring(
        app=app,
        consumes=consumed_topics(HANDLERS),
        handle=handle,
        duties=duties,
        once=once,
        on_stop=[resources.aclose],
    )
