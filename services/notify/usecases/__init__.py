"""What notify does: tell each audience what it may know, once per message.

One use case per concern (ops alerts, requesters, decisions, enforcement, the public
records), all sending through one ``Sender`` (delivery records, Message-IDs, SMTP).
app.py builds them into a ``Notify``; handlers.py maps each consumed event to one.

The consumer handles different cases at once. Events of one subject (case) are handled
one at a time (``subjects``), whoever calls (the consumer, or the reconciliation duty
with the same event): two at once would both find the delivery record "sending" and
both send.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from casework.keyed_locks import KeyedLocks
from services.notify.usecases.decisions import Decisions
from services.notify.usecases.enforcement import Enforcement
from services.notify.usecases.ops_alerts import OpsAlerts
from services.notify.usecases.requesters import Requesters
from services.notify.usecases.sender import Sender
from services.notify.usecases.transparency_records import TransparencyRecords


@dataclass(frozen=True)
class Notify:
    sender: Sender
    ops_alerts: OpsAlerts
    requesters: Requesters
    decisions: Decisions
    enforcement: Enforcement
    records: TransparencyRecords
    subjects: KeyedLocks = field(default_factory=KeyedLocks)
