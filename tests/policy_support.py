"""The policy as the services see it once wired: the kernel's load, then each service's
`rules_of` over its own section, a PolicyError naming the file as the runtime does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from casework.policy import Policy, PolicyError, load_policy
from services.enforcement import policy as enforcement
from services.intake import policy as intake
from services.monitor import policy as monitor

# Each service that validates a section of its own, by the section's name.
RULES_OF: dict[str, Callable[[Policy], object]] = {
    "intake": intake.rules_of,
    "enforcement": enforcement.rules_of,
    "monitor": monitor.rules_of,
}


def load_checked(path: Path) -> Policy:
    policy = load_policy(path)
    for rules_of in RULES_OF.values():
        try:
            rules_of(policy)
        except PolicyError as exc:
            raise PolicyError(f"{path}: {exc}") from exc
    return policy
