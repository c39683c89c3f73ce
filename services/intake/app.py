"""Intake's wiring: the one place its parts are put together."""

from __future__ import annotations

from casework.http import make_app
from casework.runtime import Kit, Wiring
from services.intake.routes import IntakeRoutes


async def wire(kit: Kit) -> Wiring:
    app = make_app(registry=kit.registry, health_checks=kit.health_checks)
    IntakeRoutes(kit.store, kit.relay, kit.policy).register(app)
    return Wiring(app=app)
