"""The store collections notify keeps beside its delivery records (adapters/deliveries.py)."""

from __future__ import annotations

# A requester as intake named them, by submission id (with the action type asked for).
REQUESTERS = "requesters"
# Per case: its submission, and per decision revision review's signed approval.
CASES = "cases"
# DSA statements and Lumen notices queued for the submission duty.
STATEMENTS = "dsa_statements"
LUMEN_NOTICES = "lumen_notices"
# ActionEnforced that came before its DecisionApproved (they travel on different topics, so
# after a rebalance either may be read first): kept until the sign-offs are known.
EARLY_ENFORCED = "early_enforced"


def early_id(case_id: str, revision: int) -> str:
    return f"{case_id}:r{revision}"


# An inquiry's submission, by submission id: how many questions, when received (public
# level: the portal says an inquiry came, and when, before it is answered).
INQUIRIES = "inquiries"
