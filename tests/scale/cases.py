"""The case mix of a scale run: who is targeted, who asked, what each case must leave behind.

Pure: no I/O. Most cases are conduct warnings (confidential by policy: three emails, no
wiki call); every ``ban_every``-th is a global ban over the whole two-wiki farm (a block on
each wiki, a public statement on the log page, the same three emails and a functionary
brief).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from casework.contract import Audience
from services.notify.adapters.deliveries import functionary_channel, idempotency_key, message_id

BAN_CHAIN = [
    ("case-handler", "alice"),
    ("ts-manager", "bob"),
    ("legal-counsel", "carol"),
    ("director", "dave"),
]
WARNING_CHAIN = BAN_CHAIN[:2]
FUNCTIONARIES_ADDRESS = "functionaries-beta@scale.test"
WARNING_WIKIS = ["alphawiki"]  # a wiki with no functionary list: no brief for warnings


@dataclass(frozen=True)
class ScaleCase:
    n: int
    action: str
    account: str

    @property
    def ban(self) -> bool:
        return self.action == "global-ban"

    @property
    def requester_email(self) -> str:
        return f"requester{self.n}@scale.example.org"  # .test is never mailable: intake refuses it

    @property
    def subject_email(self) -> str:
        return f"subject{self.n}@scale.test"

    @property
    def chain(self) -> list[tuple[str, str]]:
        return BAN_CHAIN if self.ban else WARNING_CHAIN

    def request(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "summary": f"{self.account} has harassed several editors across talk pages.",
            "subject": {"account": self.account, "wikis": []},
            "evidence": [
                {
                    "url": f"https://example.org/scale/{self.n}",
                    "description": "personal attacks in a public forum",
                    "where": "off-wiki-public",
                }
            ],
            "prior_attempts": ["https://example.org/noticeboard"],
            "requester": {
                "name": f"Requester {self.n}",
                "email": self.requester_email,
                "language": "en",
            },
        }

    def decision(self) -> dict[str, Any]:
        return {
            "subject": {"account": self.account, "email": self.subject_email, "language": "en"},
            "wikis": [] if self.ban else WARNING_WIKIS,
            "notices": {"user_page": self.ban},
            "grounds": ["tou-4-harassment", "ucoc-3-1"],
            "public_rationale": "Sustained harassment of several contributors.",
        }

    def expected_messages(self, case_id: str, reference: str, revision: int = 1) -> dict[str, str]:
        """Message-ID → what it is, for every email this case must cause (its decision
        approved at ``revision``). Notify derives a message's Message-ID from its
        idempotency key alone, so a re-send repeats it."""
        r = f"r{revision}"
        keys = {
            "requester acknowledgement": idempotency_key(
                reference, Audience.REQUESTER, "email", "ack"
            ),
            "requester outcome": idempotency_key(case_id, Audience.REQUESTER, "email", r),
            "affected-user notice": idempotency_key(case_id, Audience.AFFECTED_USER, "email", r),
        }
        if self.ban:
            channel = functionary_channel("betawiki", FUNCTIONARIES_ADDRESS)
            keys["functionary brief"] = idempotency_key(case_id, Audience.FUNCTIONARIES, channel, r)
        return {message_id(key): f"{case_id} {what}" for what, key in keys.items()}

    def expected_notifications(self, case_id: str, reference: str) -> set[tuple[str, str, str]]:
        """(subject, audience, channel) of every NotificationSent this case must cause."""
        told = {
            (reference, "requester", "email"),
            (case_id, "requester", "email"),
            (case_id, "affected-user", "email"),
        }
        if self.ban:
            told |= {(case_id, "functionaries", "email"), (case_id, "public", "wiki-page")}
        return told

    def expected_emails(self) -> list[str]:
        """Recipients, one entry per email this case must cause."""
        told = [self.requester_email, self.requester_email, self.subject_email]
        return [*told, FUNCTIONARIES_ADDRESS] if self.ban else told


def plan_cases(count: int, ban_every: int) -> list[ScaleCase]:
    return [
        ScaleCase(
            n,
            "global-ban" if n % ban_every == 0 else "conduct-warning",
            f"Scale Target {n:05d}",
        )
        for n in range(count)
    ]


def functionaries_yaml() -> str:
    return f"wikis:\n  betawiki:\n    language: en\n    addresses: [{FUNCTIONARIES_ADDRESS}]\n"
