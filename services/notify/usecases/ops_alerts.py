"""Monitor alerts mailed to the ops address each names."""

from __future__ import annotations

from datetime import UTC

from jinja2 import Environment

from casework.contract import AlertRaised, Audience
from services.notify.adapters.deliveries import idempotency_key
from services.notify.domain.render import email
from services.notify.domain.views import OpsAlertView
from services.notify.usecases.sender import Outgoing, Sender


class OpsAlerts:
    def __init__(self, sender: Sender, templates: Environment) -> None:
        self.sender = sender
        self.templates = templates

    async def alert_raised(self, alert: AlertRaised) -> None:
        """Mail a monitor alert to the ops address it names, once per alert key."""
        if alert.ops_address is None:
            return
        view = OpsAlertView(
            alert_key=alert.alert_key,
            kind=str(alert.kind),
            case_id=alert.case_id or "",
            what_happened=alert.what_happened,
            what_to_do=alert.what_to_do,
            case_url=alert.case_url or "",
            raised_at=alert.raised_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
        key = idempotency_key(alert.alert_key, Audience.STAFF, "email", "alert")
        await self.sender.send(
            Outgoing(
                key,
                alert.case_id or alert.alert_key,
                Audience.STAFF,
                alert.ops_address,
                email(self.templates, "ops_alert", view, "en"),
            )
        )
