"""Enforcement's wiring: the one place its parts are put together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from casework.cloudevents import CloudEvent
from casework.config import ConfigError
from casework.contract import DecisionApproved
from casework.dispatch import consumed_topics, dispatcher
from casework.farm import parse_farm
from casework.mediawiki import MediaWikiClient
from casework.periodic import every
from casework.reconcile import one_case_at_a_time
from casework.reconcile_wiring import reconcile_from
from casework.runtime import Kit, Wiring
from casework.store import DocumentStore
from casework.trust import ReviewAuthority
from services.enforcement.adapters.notices import NoticeRenderer
from services.enforcement.adapters.store import ENFORCEMENT_INDEXES, ENFORCEMENTS, FAILURES
from services.enforcement.entrypoints.http import http_app
from services.enforcement.handlers import HANDLERS
from services.enforcement.policy import rules_of
from services.enforcement.settings import EnforcementSettings
from services.enforcement.usecases import Enforcer, Watcher


async def _open_wikis(
    settings: EnforcementSettings, resources: AsyncExitStack
) -> dict[str, MediaWikiClient]:
    """A client per farm wiki, logged in as the role account, closed with ``resources``."""
    farm = parse_farm(settings.wiki_farm)
    if settings.centralauth_wiki is not None and settings.centralauth_wiki not in farm:
        raise ConfigError(
            f"ENFORCEMENT_CENTRALAUTH_WIKI: {settings.centralauth_wiki!r} is not a WIKI_FARM id"
        )
    password = settings.role_password().get_secret_value()
    return {
        wiki.id: await resources.enter_async_context(
            MediaWikiClient(wiki.api_url, settings.wiki_username, password)
        )
        for wiki in farm.values()
    }


def _taken_up(store: DocumentStore) -> Callable[[CloudEvent], Awaitable[bool]]:
    async def taken_up(event: CloudEvent) -> bool:
        # A record (its own duty finishes it) or a refusal: review's approval was read.
        for collection in (ENFORCEMENTS, FAILURES):
            if await store.get(collection, event.subject) is not None:
                return True
        return False

    return taken_up


async def wire(kit: Kit) -> Wiring:
    settings = kit.settings
    assert isinstance(settings, EnforcementSettings)
    rules = rules_of(kit.policy)
    resources = AsyncExitStack()
    clients = await _open_wikis(settings, resources)
    for field in ENFORCEMENT_INDEXES:
        await kit.store.ensure_index(ENFORCEMENTS, field)
    authority = ReviewAuthority.from_settings(settings, kit.policy)
    enforcer = Enforcer(
        kit.store,
        kit.relay,
        kit.policy,
        clients,
        settings.public_log_page,
        NoticeRenderer(settings.public_log_page),
        rules=rules,
        central_wiki=settings.centralauth_wiki,
        retry_seconds=settings.retry_seconds,
        ownership=kit.ownership,
        claimant=kit.claimant,
    )
    watcher = Watcher(kit.store, kit.relay, clients, settings.wiki_username)
    reconcile = every(
        "enforcement-reconcile", settings.retry_seconds, enforcer.reconcile, registry=kit.registry
    )
    watch = every("wiki-watch", settings.watch_seconds, watcher.poll, registry=kit.registry)

    # Only what review signed, with a chain the policy accepts: EventRefused is
    # dead-lettered with its reason (the monitor alerts) and no wiki is touched.
    # The consumer and the reconciliation duty: one event of a case at a time.
    handle = one_case_at_a_time(dispatcher(HANDLERS, enforcer, authority.admit))

    return Wiring(
        app=http_app(kit, clients),
        consumes=consumed_topics(HANDLERS),
        handle=handle,
        duties=[reconcile],
        once={
            "wiki-watch": watch,
            **reconcile_from(
                kit, "review", [DecisionApproved.TYPE], handled=_taken_up(kit.store), handle=handle
            ),
        },
        on_stop=[resources.aclose],
    )
