"""Which events the portal reacts to: the public-level events of casework.contract.public,
and no other (it consumes their topic alone)."""

from __future__ import annotations

from casework.contract import (
    AppealDecided,
    AppealFiled,
    DsaStatementSubmitted,
    InquiryAnswerPublished,
    InquiryReceived,
    ReversalPublished,
    StatementPublished,
)
from casework.dispatch import Handlers
from services.transparency.adapters.store import PortalStore

HANDLERS: Handlers[PortalStore] = {
    StatementPublished: lambda portal, data, event: portal.keep(data),
    DsaStatementSubmitted: lambda portal, data, event: portal.keep(data),
    ReversalPublished: lambda portal, data, event: portal.keep(data),
    AppealFiled: lambda portal, data, event: portal.keep(data),
    AppealDecided: lambda portal, data, event: portal.keep(data),
    InquiryReceived: lambda portal, data, event: portal.keep(data),
    InquiryAnswerPublished: lambda portal, data, event: portal.keep(data),
}
