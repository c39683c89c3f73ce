"""The reasons enforcement gives on the wiki (block, lock, protection and rights log
entries, edit summaries) in the community's language. No I/O.

A reason is public: the case reference, the action's title, the public log page and, for a
restored community block, that block's own admin and reason; never grounds or evidence.
An action's reach is wider than one community (a global ban is logged on every wiki), so a
non-English case's reason carries its language first and English after it. The case
reference comes first in either: the "already done" checks find an operation's own log
entry or block by it (MediaWiki shortens a comment over 500 characters at its end).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.enforcement.domain.operations import Ending, PriorBlock

SOURCE_LANGUAGE = "en"


@dataclass(frozen=True)
class LogWording:
    """One language's wording; ``str.format`` fields as ENGLISH uses them."""

    language: str
    action: str  # {case_id} {title} {log_page}
    reversed: str  # {case_id}
    expired: str  # {case_id}
    restoring: str  # {block_id} {admin} {reason} {case_id} {ending}
    ending_reversed: str
    ending_expired: str

    def ended(self, case_id: str, ending: Ending) -> str:
        template = self.reversed if ending is Ending.REVERSED else self.expired
        return template.format(case_id=case_id)

    def ending(self, ending: Ending) -> str:
        return self.ending_reversed if ending is Ending.REVERSED else self.ending_expired


ENGLISH = LogWording(
    language=SOURCE_LANGUAGE,
    action="Office action ({title}), case {case_id}. See [[{log_page}]]",
    reversed="Office action of case {case_id} reversed",
    expired="Office action of case {case_id} expired",
    restoring=(
        "Restoring block #{block_id} by {admin} ({reason}), which office action {case_id}"
        " replaced; the office action {ending}"
    ),
    ending_reversed="reversed",
    ending_expired="expired",
)
FIELDS = ("action", "reversed", "expired", "restoring", "ending_reversed", "ending_expired")


def _both(local: str, english: str) -> str:
    return english if local == english else f"{local} / {english}"


def action_reason(
    case_id: str,
    title: str,
    public_log_page: str,
    local: LogWording | None = None,
    local_title: str | None = None,
) -> str:
    english = ENGLISH.action.format(case_id=case_id, title=title, log_page=public_log_page)
    if local is None or local.language == SOURCE_LANGUAGE:
        return english
    said = local.action.format(
        case_id=case_id, title=local_title or title, log_page=public_log_page
    )
    return _both(said, english)


def undo_reason(case_id: str, ending: Ending, local: LogWording | None = None) -> str:
    english = ENGLISH.ended(case_id, ending)
    if local is None or local.language == SOURCE_LANGUAGE:
        return english
    return _both(local.ended(case_id, ending), english)


def restoration_reason(
    block_id: int,
    admin: str,
    reason: str,
    case_id: str,
    ending: Ending,
    local: LogWording | None = None,
) -> str:
    """Names the block put back: ``#<id> `` in every language is how a repeated
    restoration knows it is done."""

    def said(wording: LogWording) -> str:
        return wording.restoring.format(
            block_id=block_id,
            admin=admin,
            reason=reason,
            case_id=case_id,
            ending=wording.ending(ending),
        )

    english = said(ENGLISH)
    if local is None or local.language == SOURCE_LANGUAGE:
        return english
    return _both(said(local), english)


def restored_marker(block_id: int) -> str:
    """In every restoration reason, whatever its language."""
    return f"#{block_id} "


@dataclass(frozen=True)
class Lifting:
    """What undoing one case's operations needs: why (``ending``), when, and in which
    words the wiki is told."""

    case_id: str
    ending: Ending
    now: datetime
    wording: LogWording | None = None

    @property
    def reason(self) -> str:
        return undo_reason(self.case_id, self.ending, self.wording)

    def restoring(self, block: PriorBlock) -> str:
        return restoration_reason(
            block.id, block.by, block.reason, self.case_id, self.ending, self.wording
        )
