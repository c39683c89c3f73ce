"""Enforcement's wiring: the one place its parts are put together."""

from __future__ import annotations

from contextlib import AsyncExitStack

from casework.cloudevents import CloudEvent
from casework.config import ConfigError
from casework.contract import ActionEnforced, DecisionApproved, topic_of
from casework.farm import parse_farm
from casework.http import make_app
from casework.mediawiki import MediaWikiClient
from casework.reconcile import one_case_at_a_time
from casework.reconcile_wiring import reconcile_from, serve_ledger
from casework.runtime import Kit, Wiring
from casework.trust import ReviewAuthority
from services.enforcement.handlers import ENFORCEMENTS, FAILURES, Enforcer
from services.enforcement.settings import EnforcementSettings
from services.enforcement.watch import Watcher


async def wire(kit: Kit) -> Wiring:
    settings = kit.settings
    assert isinstance(settings, EnforcementSettings)
    farm = parse_farm(settings.wiki_farm)
    if settings.centralauth_wiki is not None and settings.centralauth_wiki not in farm:
        raise ConfigError(
            f"ENFORCEMENT_CENTRALAUTH_WIKI: {settings.centralauth_wiki!r} is not a WIKI_FARM id"
        )
    password = settings.role_password().get_secret_value()
    resources = AsyncExitStack()
    clients = {
        wiki.id: await resources.enter_async_context(
            MediaWikiClient(wiki.api_url, settings.wiki_username, password)
        )
        for wiki in farm.values()
    }
    for field in ("complete", "ending_open", "expiry_open", "ending"):
        await kit.store.ensure_index(ENFORCEMENTS, field)
    enforcer = Enforcer(
        kit.store,
        kit.relay,
        kit.policy,
        clients,
        settings.public_log_page,
        ReviewAuthority.from_settings(settings, kit.policy),
        central_wiki=settings.centralauth_wiki,
        retry_seconds=settings.retry_seconds,
        ownership=kit.ownership,
    )
    watcher = Watcher(kit.store, kit.relay, clients, settings.wiki_username)

    async def reconcile() -> None:
        await enforcer.reconcile_forever(settings.retry_seconds)

    async def watch() -> None:
        await watcher.watch_forever(settings.watch_seconds)

    checks = dict(kit.health_checks)
    for wiki_id, client in clients.items():
        checks[f"wiki:{wiki_id}"] = client.ping
    app = make_app(registry=kit.registry, health_checks=checks)
    # Notify reconciles from it: every enforced action.
    serve_ledger(kit, app, [ActionEnforced.TYPE])

    # The consumer and the reconciliation duty: one event of a case at a time.
    handle = one_case_at_a_time(enforcer.handle)

    async def taken_up(event: CloudEvent) -> bool:
        # A record (its own duty finishes it) or a refusal: review's approval was read.
        for collection in (ENFORCEMENTS, FAILURES):
            if await kit.store.get(collection, event.subject) is not None:
                return True
        return False

    return Wiring(
        app=app,
        consumes=[topic_of("review")],
        handle=handle,
        duties=[reconcile],
        once={
            "wiki-watch": watch,
            **reconcile_from(
                kit, "review", [DecisionApproved.TYPE], handled=taken_up, handle=handle
            ),
        },
        on_stop=[resources.aclose],
    )
