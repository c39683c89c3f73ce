"""What the public is told of an action now: its state, and its statement in a language.
Pure (``now`` is given)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from casework.contract import StatementPublished
from casework.contract.public import PublicStatement
from services.transparency.domain.records import ActionRecord

DEFAULT_LANGUAGE = "en"


class State(StrEnum):
    IN_FORCE = "in-force"
    EXPIRED = "expired"
    REVERSED = "reversed"


def state_of(record: ActionRecord, now: datetime) -> State:
    """Reversed wins; an action whose expiry has passed has expired; else it is in force."""
    if record.reversal is not None:
        return State.REVERSED
    statement = record.statement
    if statement is not None and statement.expires_at is not None and statement.expires_at < now:
        return State.EXPIRED
    return State.IN_FORCE


def statement_in(statement: StatementPublished, language: str) -> PublicStatement:
    """The statement in the reader's language when notify rendered one, else English, else
    the first there is."""
    by_language = {s.language: s for s in statement.statements}
    return by_language.get(language) or by_language.get(DEFAULT_LANGUAGE) or statement.statements[0]
