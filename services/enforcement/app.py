"""Enforcement's wiring: the one place its parts are put together."""

from __future__ import annotations

from contextlib import AsyncExitStack

from casework.contract import topic_of
from casework.farm import parse_farm
from casework.http import make_app
from casework.mediawiki import MediaWikiClient
from casework.runtime import Kit, Wiring
from services.enforcement.handlers import ENFORCEMENTS, Enforcer
from services.enforcement.settings import EnforcementSettings


async def wire(kit: Kit) -> Wiring:
    settings = kit.settings
    assert isinstance(settings, EnforcementSettings)
    farm = parse_farm(settings.wiki_farm)
    resources = AsyncExitStack()
    clients = {
        wiki.id: await resources.enter_async_context(
            MediaWikiClient(wiki.api_url, settings.wiki_username, settings.wiki_password)
        )
        for wiki in farm.values()
    }
    await kit.store.ensure_index(ENFORCEMENTS, "complete")
    enforcer = Enforcer(kit.store, kit.relay, kit.policy, clients, settings.public_log_page)

    async def reconcile() -> None:
        await enforcer.reconcile_forever(settings.retry_seconds)

    checks = dict(kit.health_checks)
    for wiki_id, client in clients.items():
        checks[f"wiki:{wiki_id}"] = client.ping
    app = make_app(registry=kit.registry, health_checks=checks)
    return Wiring(
        app=app,
        consumes=[topic_of("review")],
        handle=enforcer.handle,
        duties=[reconcile],
        on_stop=[resources.aclose],
    )
