"""No private value reaches the portal's topic: every public-level event type
(casework.contract.public.EVENTS), built by notify's mappers from generated cases and
serialized as it goes on the bus (``to_kafka``), is searched for the private markers.

The cases are test_notify_privacy's generator (markers in the requester's identity, the
affected user's address, staff ids and sign-off comments, evidence per audience,
counsel's full and redacted text, an unknown private field, operation details), plus a
reversal (the reverser's staff id, the approvals' comments) and an inquiry (the asker's
name and address, the answering staff id, answers held back or not, the asker named or
not). A marker may be on the topic only where it was released to the public.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casework.cloudevents import to_kafka
from casework.contract import (
    Audience,
    DecisionReversed,
    EventData,
    InquiryAnswered,
    to_cloudevent,
)
from casework.contract.public import EVENTS
from services.notify.domain import dsa
from services.notify.domain import public_events as mapped
from services.notify.domain.render import environment
from services.notify.domain.rules import confidential_grounds
from services.notify.domain.views import reversal_view
from tests.test_notify_privacy import MARK, POLICY, Sample, samples

ENV = environment()
PUBLISHED = datetime(2037, 6, 1, tzinfo=UTC)
PUBLIC_EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class PublicSample:
    """A generated case, its reversal and an inquiry about it; per marker, who may see it."""

    case: Sample
    reversed_: DecisionReversed
    answered: InquiryAnswered
    allowed: dict[str, set[Audience]] = field(default_factory=dict)


@st.composite
def public_samples(draw: st.DrawFn) -> PublicSample:
    case = draw(samples())
    allowed = dict(case.allowed)
    tag = draw(st.text(alphabet="abcdef0123456789", min_size=6, max_size=6))

    def marker(name: str, audiences: set[Audience]) -> str:
        value = f"{MARK}{name}{tag}"
        allowed[value] = audiences
        return value

    staff = marker("reverser", set())
    approvals = [
        s.model_copy(update={"comment": f"reversal ok {marker(f'approval{n}', set())}"})
        for n, s in enumerate(case.approved.signoffs)
    ]
    reversed_ = DecisionReversed(
        case_id=case.enforced.case_id,
        decision=case.enforced.decision,
        reason="The account was compromised.",
        reversed_by=staff,
        appeal_case_id=draw(st.sampled_from([None, "OA-APPEAL234567"])),
        reversed_at=case.enforced.enforced_at,
        approvals=approvals,
        grounds=draw(st.sampled_from(["appeal-upheld", "error", "declined-after-expedited"])),
    )
    named = draw(st.booleans())
    held_back = draw(st.booleans())
    everyone = {Audience.PUBLIC, Audience.REQUESTER}
    asker = marker("asker", everyone if named else {Audience.REQUESTER})
    answer_text = marker("answer", {Audience.REQUESTER} if held_back else everyone)
    answered = InquiryAnswered.model_validate(
        {
            "case_id": "OA-INQUIRY23456",
            "about_case_id": case.enforced.case_id,
            "answers": [
                {"question": "Which clauses?", "outcome": "answered", "text": answer_text},
                {"question": "Who asked?", "outcome": "refused", "text": f"No. {answer_text}"},
            ],
            "requester": {
                "name": f"Asker {asker}",
                "email": f"{marker('askeraddr', set())}@asker.example",
                "language": draw(st.sampled_from(["en", "ru"])),
                "named_publicly": named,
            },
            "answered_by": marker("answerer", set()),
            "answered_at": case.enforced.enforced_at.isoformat(),
            "held_back": held_back,
            "held_back_grounds": "Names a third party." if held_back else None,
        }
    )
    return PublicSample(case, reversed_, answered, allowed)


def public_events(sample: PublicSample) -> list[EventData]:
    """Every public-level event notify makes of the sample, as its use cases do: none of
    the statement, its DSA submission or its reversal for a confidential action."""
    enforced, approved = sample.case.enforced, sample.case.approved
    at = enforced.enforced_at
    events: list[EventData] = [
        mapped.appeal_filed("OA-APPEAL234567", enforced.case_id, at),
        mapped.inquiry_received(
            "OA-INQUIRY23456", enforced.case_id, asked_at=at, deadline_at=None, question_count=2
        ),
        mapped.inquiry_answer_published(
            sample.answered, enforced.case_id, asked_at=at, deadline_at=None
        ),
    ]
    if confidential_grounds(enforced, POLICY) is not None:
        return events
    views = mapped.statement_views(enforced, POLICY, approved.signoffs)
    facts = mapped.statement_facts(enforced, requested_at=at, decided_at=approved.approved_at)
    entry = mapped.log_entry("Office actions log?oldid=42", "https://wiki.example/index.php")
    events.append(mapped.statement_published(ENV, views, facts, entry, PUBLISHED))
    decision = enforced.decision
    mapping = POLICY.notify.dsa.action_types.get(decision.action_type)
    if mapping is not None:
        _, english = views[0]
        statement = dsa.statement_of_reasons(
            english, mapping, POLICY.notify.dsa, revision=decision.revision
        )
        answer = {**statement, "uuid": "1f0c7a8e-0000-4000-8000-000000000001"}
        events.append(
            mapped.dsa_statement_submitted(
                enforced.case_id, decision.revision, statement, answer, PUBLISHED
            )
        )
    view = reversal_view(sample.reversed_, POLICY, language="en")
    events.append(mapped.reversal_published(view, entry, PUBLISHED))
    upheld = mapped.appeal_upheld(view)
    if upheld is not None:
        events.append(upheld)
    return events


def on_the_bus(event: EventData) -> str:
    """The record as the relay sends it: key, value and headers."""
    key, value, headers = to_kafka(to_cloudevent(event))
    parts = [key, value, *(v for _, v in headers)]
    return "\n".join(p.decode("utf-8", "replace") for p in parts)


def test_no_private_marker_reaches_any_public_event_type() -> None:
    produced: set[type[EventData]] = set()
    shown: set[str] = set()

    @PUBLIC_EXAMPLES
    @given(public_samples())
    def check(sample: PublicSample) -> None:
        # The secrets are really in what the events are made from.
        assert MARK in sample.reversed_.reversed_by and MARK in sample.answered.answered_by
        assert MARK in sample.answered.requester.email
        for event in public_events(sample):
            produced.add(type(event))
            record = on_the_bus(event)
            for value, allowed in sample.allowed.items():
                if value in record:
                    assert Audience.PUBLIC in allowed, (type(event).__name__, value)
                    name = value.removeprefix(MARK)[:-6]
                    shown.add("evidence" if name.startswith("ev") else name)

    check()
    assert produced == set(EVENTS)
    # Markers released to the public do reach the topic (the check could catch a leak):
    # public evidence, an opted-in asker's name, answers not held back.
    assert {"evidence", "asker", "answer"} <= shown, shown
