"""Notify's wiring: the one place its parts are put together."""

from __future__ import annotations

from contextlib import AsyncExitStack

from casework.contract import topic_of
from casework.http import make_app
from casework.mediawiki import MediaWikiClient
from casework.runtime import Kit, Wiring
from services.notify.handlers import Notifier
from services.notify.mailer import Mailer, SmtpSettings
from services.notify.render import environment
from services.notify.settings import NotifySettings


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
        )
    )
    resources = AsyncExitStack()
    wiki = await resources.enter_async_context(
        MediaWikiClient(settings.statement_wiki_api, settings.wiki_username, settings.wiki_password)
    )
    notifier = Notifier(
        kit.store, kit.relay, kit.policy, environment(), mailer, wiki, settings.public_log_page
    )
    checks = {
        **kit.health_checks,
        "smtp": mailer.ping,
        "wiki": wiki.ping,
    }
    app = make_app(registry=kit.registry, health_checks=checks)

    return Wiring(
        app=app,
        consumes=[topic_of("enforcement")],
        handle=notifier.handle,
        on_stop=[resources.aclose],
    )
