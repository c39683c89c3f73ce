"""Intake's wiring: the one place its parts are put together.

Its ways in are the JSON API, the web form and the mail channel (SMTP/LMTP listeners, IMAP
poller), and one consumed event: review's report of where a requester's case stands, read
from review's topic and reconciled from review's ledger (a report the bus lost, e.g. with a
broker's topics, still reaches the tracking page).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from casework.cloudevents import CloudEvent
from casework.config import ConfigError
from casework.contract import CaseProgressed, EventData, SubmissionReceived, from_cloudevent
from casework.dispatch import consumed_topics, dispatcher
from casework.http import make_app
from casework.periodic import every
from casework.reconcile import one_case_at_a_time
from casework.reconcile_wiring import reconcile_from, serve_ledger
from casework.runtime import Duty, Handler, Kit, Wiring
from casework.trust import SIGNED_TYPES
from services.intake.adapters.imap import ImapConfig
from services.intake.domain.mail.mapping import Routing
from services.intake.domain.mail.parse import MailLimits
from services.intake.domain.rules import Rules
from services.intake.entrypoints.http import IntakeRoutes
from services.intake.entrypoints.mail.imap import ImapPoller
from services.intake.entrypoints.mail.listener import MailListener
from services.intake.entrypoints.web.csrf import CsrfTokens
from services.intake.entrypoints.web.pages import FormPages
from services.intake.handlers import HANDLERS
from services.intake.policy import IntakeRules, rules_of
from services.intake.settings import IntakeSettings, MailSettings
from services.intake.usecases import Submissions
from services.intake.usecases.mail import MailPipeline, SubmissionPort


async def wire(kit: Kit) -> Wiring:
    settings = kit.settings
    assert isinstance(settings, IntakeSettings)
    intake = rules_of(kit.policy)
    rules = Rules(kit.policy, intake, settings.wiki_hosts())
    submissions = Submissions(kit.store, kit.relay, rules)
    await submissions.prepare()
    app = make_app(registry=kit.registry, health_checks=kit.health_checks)
    IntakeRoutes(submissions, settings.wiki_base()).register(app)
    FormPages(submissions, CsrfTokens(settings.form_secret)).register(app)
    # Review reconciles from it: every stored submission has a case there.
    serve_ledger(kit, app, [SubmissionReceived.TYPE])
    mail = mail_duties(kit, submissions, intake)
    # The consumer and the reconciliation duty: one event of a case at a time.
    handle = one_case_at_a_time(dispatcher(HANDLERS, submissions, admit_handled))
    return Wiring(
        app=app,
        consumes=consumed_topics(HANDLERS),
        handle=handle,
        duties=mail.listeners,
        once={**mail.pollers, **tracking_reconciliation(kit, submissions, handle)},
    )


def tracking_reconciliation(kit: Kit, submissions: Submissions, handle: Handler) -> dict[str, Duty]:
    """The duty reading review's ledger for the reports of where each case stands: only
    that public-level, unsigned type is taken (the ledger lists review's signed approvals
    too, for its other downstreams; they are passed over undecoded, as on the bus)."""
    settings = kit.settings
    assert isinstance(settings, IntakeSettings)

    async def recorded(event: CloudEvent) -> bool:
        return await submissions.recorded(CaseProgressed.model_validate(event.data))

    return reconcile_from(
        kit,
        "review",
        [CaseProgressed.TYPE],
        handled=recorded,
        handle=handle,
        ledger=(settings.review_ledger_url, settings.review_ledger_token),
    )


HANDLED = frozenset(event_type.TYPE for event_type in HANDLERS)
assert not HANDLED & SIGNED_TYPES, "intake holds no review key: it may handle no signed type"


def admit_handled(event: CloudEvent) -> EventData | None:
    """The data of the (unsigned, public-level) types intake handles. Intake acts on no
    decision and holds no review key, so the signed events on review's topic are passed
    over undecoded rather than verified."""
    return from_cloudevent(event) if event.type in HANDLED else None


# -- the mail channel ------------------------------------------------------------------


def _load_mail_settings() -> MailSettings:
    try:
        return MailSettings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"configuration of intake's mail channel: {problems}") from exc


def mail_limits(intake: IntakeRules, settings: MailSettings) -> MailLimits:
    attachments = intake.attachments
    return MailLimits(
        max_bytes=settings.mail_max_bytes,
        max_attachment_bytes=attachments.max_bytes,
        max_attachments=attachments.max_count,
        attachment_types=frozenset(attachments.content_types),
    )


@dataclass
class MailDuties:
    """Listeners run on every instance (each serves its own port); the mailbox poller runs
    on one instance at a time (a once-only duty under a lease), so that two instances never
    fetch the same message."""

    listeners: list[Duty] = field(default_factory=list)
    pollers: dict[str, Duty] = field(default_factory=dict)


def mail_duties(kit: Kit, submissions: SubmissionPort, intake: IntakeRules) -> MailDuties:
    settings = kit.settings if isinstance(kit.settings, MailSettings) else _load_mail_settings()
    routing = Routing(
        settings.address_map(),
        wiki_hosts=settings.wiki_hosts(),
        summary_max=min(k.summary.max_chars for k in intake.kinds.values()),
    )
    limits = mail_limits(intake, settings)
    duties = MailDuties()
    pipeline = MailPipeline(submissions, routing, limits)
    for port, lmtp in ((settings.mail_port, False), (settings.lmtp_port, True)):
        if port is not None:
            listener = MailListener(
                pipeline,
                routing,
                host=settings.mail_host,
                port=port,
                lmtp=lmtp,
                max_bytes=limits.max_bytes,
            )
            duties.listeners.append(listener.serve)
    if settings.imap_host:
        config = ImapConfig(
            host=settings.imap_host,
            port=settings.imap_port,
            user=settings.imap_user,
            password=settings.imap_password.get_secret_value(),
            folder=settings.imap_folder,
            processed_folder=settings.imap_processed_folder,
            quarantine_folder=settings.imap_quarantine_folder,
            poll_seconds=settings.imap_poll_seconds,
        )
        imap_pipeline = MailPipeline(
            submissions, routing, limits, default_kind=settings.imap_default_kind
        )
        poller = ImapPoller(imap_pipeline, config)
        duties.pollers["imap-poll"] = every(
            "imap-poll", config.poll_seconds, poller.poll, registry=kit.registry
        )
    return duties
