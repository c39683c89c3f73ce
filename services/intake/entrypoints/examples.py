"""One valid submission of each kind: the OpenAPI document's examples, and the tests' data.

``wiki`` is the base URL of one configured wiki, so on-wiki evidence points at it.

Size: examples() is one literal, a submission per kind.
"""

from __future__ import annotations

from typing import Any

from casework.contract import SubmissionKind

REQUESTER = {"name": "Rita Reporter", "email": "rita@example.org", "language": "en"}


def examples(wiki: str) -> dict[SubmissionKind, dict[str, Any]]:
    diff = f"{wiki}/index.php?diff=123"
    return {
        SubmissionKind.REQUEST: {
            "action": "global-ban",
            "summary": "Cross-wiki harassment of several editors after local blocks failed.",
            "subject": {"account": "Troublesome Editor", "wikis": []},
            "evidence": [
                {"url": diff, "description": "threat on a talk page", "where": "on-wiki-public"},
                {
                    "url": "https://chat.example.net/log/77",
                    "description": "messages sent in a private chat",
                    "where": "off-wiki-private",
                },
            ],
            "prior_attempts": [f"{wiki}/index.php?title=Noticeboard&oldid=7"],
            "requester": REQUESTER,
        },
        SubmissionKind.DMCA_NOTICE: {
            "copyrighted_work": "The photograph 'Harbour at dawn' (2024) by Rita Reporter.",
            "infringing_material": "A copy of the photograph uploaded without licence.",
            "locations": [f"{wiki}/index.php?title=File:Harbour.jpg"],
            "contact_address": "1 Quay Street, Portsmouth, UK",
            "contact_phone": "+44 20 7946 0000",
            "good_faith_statement": True,
            "accuracy_statement": True,
            "signature": "Rita Reporter",
            "requester": REQUESTER,
        },
        SubmissionKind.CHILD_PROTECTION_REPORT: {
            "summary": "An account is soliciting contact details from a child.",
        },
        SubmissionKind.APPEAL: {
            "action": "global-ban",
            "refers_to": "OA-AAAABBBBCCCC",
            "summary": "I was banned for edits my brother made from our shared computer.",
            "subject": {"account": "Appellant Editor", "wikis": []},
            "requester": REQUESTER,
        },
        SubmissionKind.BREACH_REPORT: {
            "breach": "sock",
            "refers_to": "OA-AAAABBBBCCCC",
            "summary": "The globally banned user is editing again under a new account.",
            "subject": {"account": "New Sock Account", "wikis": []},
            "evidence": [
                {"url": diff, "description": "same edits as before", "where": "on-wiki-public"}
            ],
            "requester": REQUESTER,
        },
        SubmissionKind.ABUSE_REPORT: {
            "named_staff": ["Staff Member (WMF)"],
            "refers_to": "OA-AAAABBBBCCCC",
            "summary": "A staff member used an office action to win a content dispute.",
            "requester": REQUESTER,
        },
        SubmissionKind.INQUIRY: {
            "refers_to": "OA-AAAABBBBCCCC",
            "questions": [
                "Which policy clause was the ban based on?",
                "Was the evidence on-wiki or off-wiki?",
            ],
            # Off unless the asker chooses to be named on the public portal.
            "requester": {**REQUESTER, "named_publicly": False},
        },
    }
