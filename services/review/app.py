"""Review's wiring: the one place its parts are put together."""

from __future__ import annotations

from casework.contract import topic_of
from casework.http import make_app
from casework.runtime import Kit, Wiring
from services.review.handlers import CASES, ReviewHandlers
from services.review.routes import ReviewRoutes
from services.review.settings import ReviewSettings
from services.review.staff import load_staff


async def wire(kit: Kit) -> Wiring:
    assert isinstance(kit.settings, ReviewSettings)
    staff = load_staff(kit.settings.staff_file, kit.policy)
    for field in ("state", "action_type", "opened_at"):
        await kit.store.ensure_index(CASES, field)
    app = make_app(registry=kit.registry, health_checks=kit.health_checks)
    ReviewRoutes(kit.store, kit.relay, kit.policy, staff).register(app)
    handlers = ReviewHandlers(kit.store, kit.relay, kit.policy)
    return Wiring(app=app, consumes=[topic_of("intake")], handle=handlers.handle)
