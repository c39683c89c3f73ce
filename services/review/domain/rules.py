"""Cross-checks of the policy's review section against the rest of the policy."""

from __future__ import annotations

from casework.policy import Policy


def check_rules(policy: Policy) -> list[str]:
    rules = policy.review
    problems = []
    for i, level in enumerate(rules.reversal_levels):
        if level not in policy.signoff_levels:
            problems.append(f"review.reversal_levels[{i}]: unknown sign-off level {level!r}")
    for name, expedited in rules.expedited.items():
        if name not in policy.action_types:
            problems.append(f"review.expedited.{name}: unknown action type")
            continue
        chain = policy.action(name).signoff
        if chain[: len(expedited.proceed_after)] != expedited.proceed_after:
            problems.append(
                f"review.expedited.{name}.proceed_after: must be the first levels of its "
                f"sign-off chain {chain}"
            )
    for level in rules.step_up:
        if level not in policy.signoff_levels:
            problems.append(f"review.step_up.{level}: unknown sign-off level")
    return problems
