"""The policy's rules for a submission of each kind, and screening. No I/O; time is passed in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from casework.contract.intake import ScreeningFlag
from casework.errors import FieldError
from casework.policy import Policy
from services.intake.domain.forms import AppealForm, BreachForm, DmcaForm, Form, RequestForm
from services.intake.domain.urls import whatwg_host
from services.intake.policy import IntakeRules, KindRules


@dataclass(frozen=True)
class Rules:
    """The policy, its validated `intake:` section, and the hosts of the configured wikis
    (WIKI_FARM) for evidence URLs."""

    policy: Policy
    intake: IntakeRules
    wiki_hosts: frozenset[str]

    def of(self, form: Form) -> KindRules:
        return self.intake.kind(form.KIND.value)


@dataclass(frozen=True)
class AttachmentInfo:
    name: str
    content_type: str
    size: int


def check(form: Form, rules: Rules, today: date) -> list[FieldError]:
    """Every rule the policy file sets for this kind; empty when the submission may go in."""
    errors = _summary(form, rules) + _evidence(form, rules)
    if isinstance(form, RequestForm):
        errors += _request(form, rules)
    elif isinstance(form, DmcaForm):
        errors += _dmca(form, rules)
    elif isinstance(form, AppealForm):
        errors += _appeal(form, rules, today)
    elif isinstance(form, BreachForm):
        errors += _breach(form)
    return errors


def _summary(form: Form, rules: Rules) -> list[FieldError]:
    field = getattr(form, "summary", None)
    if field is None:
        return []
    bounds = rules.of(form).summary
    length = len(field)
    if length < bounds.min_chars:
        return [
            FieldError(
                "summary",
                "string_too_short",
                f"must be at least {bounds.min_chars} characters (policy), got {length}",
            )
        ]
    if length > bounds.max_chars:
        return [
            FieldError(
                "summary",
                "string_too_long",
                f"must be at most {bounds.max_chars} characters (policy): keep it succinct",
            )
        ]
    return []


def _evidence(form: Form, rules: Rules) -> list[FieldError]:
    limits = rules.intake.evidence
    errors = []
    for i, item in enumerate(form.evidence_items()):
        field = f"evidence.{i}.url"
        if len(item.url) > limits.max_url_chars:
            errors.append(
                FieldError(
                    field, "url_length", f"must be at most {limits.max_url_chars} characters"
                )
            )
            continue
        if item.where.value in limits.on_wiki and rules.wiki_hosts:
            # The host a browser visits; forms.py refused links other readers take elsewhere.
            if whatwg_host(item.url) not in rules.wiki_hosts:
                errors.append(
                    FieldError(
                        field,
                        "wiki_host",
                        f"on-wiki evidence must link to one of the wikis ("
                        f"{', '.join(sorted(rules.wiki_hosts))}); class it off-wiki otherwise",
                    )
                )
    return errors


def _request(form: RequestForm, rules: Rules) -> list[FieldError]:
    action = rules.policy.action_types.get(form.action)
    if action is None:
        return [_unknown_action("action", form.action, rules)]
    if action.requires_prior_attempts and not form.prior_attempts:
        return [
            FieldError(
                "prior_attempts",
                "required_by_policy",
                f"a {action.title.lower()} request must link to the earlier attempts to resolve "
                "the issue through local community processes",
            )
        ]
    return []


def _dmca(form: DmcaForm, rules: Rules) -> list[FieldError]:
    errors = []
    for element, description in rules.intake.dmca_elements.items():
        if not getattr(form, element, None):
            errors.append(FieldError(element, "required_by_policy", f"missing: {description}"))
    return errors


def _appeal(form: AppealForm, rules: Rules, today: date) -> list[FieldError]:
    action = rules.policy.action_types.get(form.action)
    if action is None:
        return [_unknown_action("action", form.action, rules)]
    if not action.appealable:
        return [
            FieldError(
                "action",
                "appealable",
                f"under the policy a {action.title.lower()} is not appealable",
            )
        ]
    if form.action_date is not None and action.appeal_window_days is not None:
        if form.action_date > today:
            return [FieldError("action_date", "not_in_future", "must not be in the future")]
        closes = form.action_date + timedelta(days=action.appeal_window_days)
        if today > closes:
            return [
                FieldError(
                    "action_date",
                    "appeal_window",
                    f"a {action.title.lower()} may be appealed within "
                    f"{action.appeal_window_days} days; that window closed on {closes.isoformat()}",
                )
            ]
    return []


def _breach(form: BreachForm) -> list[FieldError]:
    if form.breach.value == "event-presence" and form.banned_event is None:
        return [
            FieldError(
                "banned_event", "required_for_event_presence", "name the event the user attended"
            )
        ]
    return []


def _unknown_action(field: str, name: str, rules: Rules) -> FieldError:
    known = ", ".join(sorted(rules.policy.action_types))
    return FieldError(field, "one_of", f"unknown action {name!r}; one of: {known}")


def check_attachments(attachments: Sequence[AttachmentInfo], rules: Rules) -> list[FieldError]:
    limits = rules.intake.attachments
    if len(attachments) > limits.max_count:
        return [FieldError("attachments", "max_count", f"at most {limits.max_count} attachments")]
    errors = []
    for i, item in enumerate(attachments):
        content_type = item.content_type.split(";")[0].strip().lower()
        if content_type not in limits.content_types:
            errors.append(
                FieldError(
                    f"attachments.{i}",
                    "content_type",
                    f"{content_type or 'no type'} is not accepted; one of: "
                    f"{', '.join(limits.content_types)}",
                )
            )
        if item.size > limits.max_bytes:
            errors.append(
                FieldError(f"attachments.{i}", "max_bytes", f"larger than {limits.max_bytes} bytes")
            )
    return errors


def screen(form: Form, rules: Rules) -> list[ScreeningFlag]:
    """One flag per screening rule that matched; the submission still goes in."""
    flags = []
    texts = form.screened_texts()
    for name, rule in rules.intake.screening.items():
        match = _first_match(rule.patterns, texts)
        if match is not None:
            flags.append(ScreeningFlag(rule=name, reason=rule.reason, matched=match))
    return flags


def _first_match(patterns: Sequence[str], texts: Sequence[tuple[str, str]]) -> str | None:
    for pattern in patterns:
        compiled = re.compile(pattern, re.IGNORECASE)
        for _, text in texts:
            found = compiled.search(text)
            if found:
                return found.group(0)[:200]
    return None


def duplicate_of(
    earlier: Sequence[tuple[str, datetime, str | None]], now: datetime, window_days: int
) -> str | None:
    """The original of the most recent earlier submission of the same target in the window
    (each earlier one: id, received_at, the original it duplicates if any): a later
    duplicate links to the original, never to another duplicate."""
    recent = [
        (at, original or sid)
        for sid, at, original in earlier
        if now - at <= timedelta(days=window_days)
    ]
    return max(recent)[1] if recent else None
