"""The mail channel's parts put together: called from intake's ``wire``."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from casework.config import ConfigError
from casework.runtime import Duty, Kit
from services.intake.mail.imap import ImapConfig, ImapPoller
from services.intake.mail.listener import MailListener
from services.intake.mail.mapping import Routing
from services.intake.mail.parse import MailLimits
from services.intake.mail.pipeline import MailPipeline
from services.intake.mail.ports import SubmissionPort
from services.intake.mail.settings import MailSettings


def _load() -> MailSettings:
    try:
        return MailSettings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"configuration of intake's mail channel: {problems}") from exc


def mail_limits(kit: Kit, settings: MailSettings) -> MailLimits:
    attachments = kit.policy.intake.attachments
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


def mail_duties(kit: Kit, submissions: SubmissionPort) -> MailDuties:
    settings = kit.settings if isinstance(kit.settings, MailSettings) else _load()
    routing = Routing(
        settings.address_map(),
        wiki_hosts=settings.wiki_hosts(),
        summary_max=min(k.summary.max_chars for k in kit.policy.intake.kinds.values()),
    )
    limits = mail_limits(kit, settings)
    duties = MailDuties()
    pipeline = MailPipeline(submissions, routing, limits)
    if settings.mail_port is not None:
        listener = MailListener(
            pipeline,
            routing,
            host=settings.mail_host,
            port=settings.mail_port,
            max_bytes=limits.max_bytes,
        )
        duties.listeners.append(listener.serve)
    if settings.lmtp_port is not None:
        lmtp = MailListener(
            pipeline,
            routing,
            host=settings.mail_host,
            port=settings.lmtp_port,
            lmtp=True,
            max_bytes=limits.max_bytes,
        )
        duties.listeners.append(lmtp.serve)
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
        duties.pollers["imap-poll"] = ImapPoller(imap_pipeline, config).run
    return duties
