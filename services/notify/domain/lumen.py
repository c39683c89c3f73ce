"""Lumen notices for DMCA takedowns (lumendatabase.org's notice API).

Public level only: the works and URLs from the decision's public evidence and
the pages acted on. The requester's identity is never public, so sender and
principal are recorded by role ("Rights holder (name withheld)"), never by
name or address.
"""

from __future__ import annotations

from typing import Any

from services.notify.domain.views import PublicView


def lumen_notice(
    view: PublicView,
    *,
    page_urls: list[str],
    recipient: str,
    jurisdiction: str = "US",
) -> dict[str, Any]:
    infringing = [{"url": u} for u in page_urls]
    copyrighted = [
        {"url": e.url}
        for a in view.answers
        if a.question == "public-actions"
        for e in a.actions
        if e.url
    ]
    return {
        "notice": {
            "title": f"DMCA takedown {view.case_id}",
            "type": "DMCA",
            "subject": view.action_title,
            "date_received": view.at.date().isoformat(),
            "date_sent": view.at.date().isoformat(),
            "source": "Online form",
            "action_taken": "Yes",
            "jurisdiction_list": jurisdiction,
            "tag_list": "office action",
            "body": view.public_rationale,
            "works_attributes": [
                {
                    "description": view.public_rationale,
                    "copyrighted_urls_attributes": copyrighted,
                    "infringing_urls_attributes": infringing,
                }
            ],
            "entity_notice_roles_attributes": [
                {"name": "recipient", "entity_attributes": {"name": recipient}},
                {"name": "sender", "entity_attributes": {"name": "Rights holder (name withheld)"}},
                {
                    "name": "principal",
                    "entity_attributes": {"name": "Rights holder (name withheld)"},
                },
            ],
        }
    }
