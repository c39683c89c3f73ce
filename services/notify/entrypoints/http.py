"""Notify's staff API: where each message of a case went, in which state."""

from __future__ import annotations

from aiohttp import web

from services.notify.adapters.deliveries import Deliveries, address_free_key


def delivery_routes(deliveries: Deliveries) -> web.RouteTableDef:
    """Where each message of a case went, in which state: no address, no body."""
    routes = web.RouteTableDef()

    @routes.get("/api/v1/cases/{case_id}/deliveries")
    async def of_case(request: web.Request) -> web.Response:
        docs = await deliveries.of_case(request.match_info["case_id"])
        return web.json_response(
            {
                "deliveries": [
                    {
                        "key": d["_id"],
                        "audience": d.get("audience"),
                        "channel": d.get("channel"),
                        "state": d.get("state"),
                        "reference": d.get("reference"),
                        "attempts": d.get("attempts"),
                        "permanent": d.get("permanent", False),
                    }
                    for d in docs
                    if address_free_key(d["_id"]) is None  # an old copy not yet removed
                ]
            }
        )

    return routes
