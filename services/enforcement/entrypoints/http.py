"""Enforcement's HTTP app: no routes of its own, only the kernel's health (each farm wiki
is a check), metrics, and the ledger notify reconciles from."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from casework.contract import ActionEnforced
from casework.http import make_app
from casework.mediawiki import MediaWikiClient
from casework.reconcile_wiring import serve_ledger
from casework.runtime import Kit


def http_app(kit: Kit, wikis: Mapping[str, MediaWikiClient]) -> web.Application:
    checks = dict(kit.health_checks)
    for wiki_id, client in wikis.items():
        checks[f"wiki:{wiki_id}"] = client.ping
    app = make_app(registry=kit.registry, health_checks=checks)
    # Notify reconciles from it: every enforced action.
    serve_ledger(kit, app, [ActionEnforced.TYPE])
    return app
