"""Intake's rules for every kind of submission: shapes, the policy file's rules, screening,
duplicates, attachments, ids and the event. Pure functions: no servers needed."""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from casework.contract import Channel, SubmissionKind
from casework.contract.intake import Attachment
from casework.policy import load_policy
from services.intake.domain.forms import FORMS, Form
from services.intake.domain.rules import (
    AttachmentInfo,
    Rules,
    check,
    check_attachments,
    duplicate_of,
    screen,
)
from services.intake.domain.submission import accept, fingerprint, new_submission_id
from services.intake.entrypoints.examples import examples
from services.intake.policy import rules_of

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
WIKI = "https://wiki.example.org/w"
INTAKE = rules_of(POLICY)
RULES = Rules(POLICY, INTAKE, frozenset({"wiki.example.org"}))
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
EXAMPLES = examples(WIKI)

Loc = tuple[str | int, ...]
Change = tuple[Loc, Any]  # (path into the body, new value or None to delete)


def body(kind: SubmissionKind, *changes: Change) -> dict[str, Any]:
    """The kind's example with each (path, value) change applied; value None deletes the key."""
    raw = copy.deepcopy(EXAMPLES[kind])
    for path, value in changes:
        target = raw
        for part in path[:-1]:
            target = target[part]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return raw


def form(kind: SubmissionKind, *changes: Change) -> Form:
    return FORMS[kind].model_validate(body(kind, *changes))


def rules_broken(
    kind: SubmissionKind, *changes: Change, rules: Rules = RULES
) -> set[tuple[str, str]]:
    return {(e.field, e.rule) for e in check(form(kind, *changes), rules, TODAY)}


def shape_errors(kind: SubmissionKind, *changes: Change) -> set[tuple[Loc, str]]:
    with pytest.raises(ValidationError) as caught:
        FORMS[kind].model_validate(body(kind, *changes))
    return {(tuple(e["loc"]), e["type"]) for e in caught.value.errors()}


def with_intake(**changes: Any) -> Rules:
    return Rules(POLICY, INTAKE.model_copy(update=changes), RULES.wiki_hosts)


# --- every kind's example passes ----------------------------------------------------------


@pytest.mark.parametrize("kind", list(SubmissionKind))
def test_the_example_of_every_kind_passes_every_rule(kind: SubmissionKind) -> None:
    assert check(form(kind), RULES, TODAY) == []
    assert screen(form(kind), RULES) == []


# --- request --------------------------------------------------------------------------------

R = SubmissionKind.REQUEST


def test_unknown_action_names_the_known_ones() -> None:
    [error] = check(form(R, (("action",), "permaban")), RULES, TODAY)
    assert (error.field, error.rule) == ("action", "one_of")
    assert "permaban" in error.message and "global-ban" in error.message


def test_global_ban_requires_prior_attempts() -> None:
    assert rules_broken(R, (("prior_attempts",), None)) == {
        ("prior_attempts", "required_by_policy")
    }


def test_conduct_warning_needs_no_prior_attempts() -> None:
    assert rules_broken(R, (("action",), "conduct-warning"), (("prior_attempts",), [])) == set()


def test_summary_bounds_come_from_the_policy() -> None:
    bounds = INTAKE.kind("request").summary
    assert rules_broken(R, (("summary",), "x" * (bounds.min_chars - 1))) == {
        ("summary", "string_too_short")
    }
    assert rules_broken(R, (("summary",), "x" * (bounds.max_chars + 1))) == {
        ("summary", "string_too_long")
    }
    assert rules_broken(R, (("summary",), "x" * bounds.min_chars)) == set()
    assert rules_broken(R, (("summary",), "x" * bounds.max_chars)) == set()
    stricter = INTAKE.kinds["request"].model_copy(
        update={"summary": bounds.model_copy(update={"min_chars": 100})}
    )
    rules = with_intake(kinds={**INTAKE.kinds, "request": stricter})
    assert rules_broken(R, rules=rules) == {("summary", "string_too_short")}


def test_on_wiki_evidence_must_point_at_a_configured_wiki() -> None:
    elsewhere = (("evidence", 0, "url"), "https://evil.example.com/wiki/Diff")
    assert rules_broken(R, elsewhere) == {("evidence.0.url", "wiki_host")}
    # The same URL classed off-wiki is fine: intake only checks, never fetches.
    assert rules_broken(R, elsewhere, (("evidence", 0, "where"), "off-wiki-public")) == set()


def test_evidence_url_length_comes_from_the_policy() -> None:
    rules = with_intake(evidence=INTAKE.evidence.model_copy(update={"max_url_chars": 30}))
    assert rules_broken(R, rules=rules) == {
        ("evidence.0.url", "url_length"),
        ("evidence.1.url", "url_length"),
    }


@pytest.mark.parametrize(
    ("change", "loc", "rule"),
    [
        (
            (("evidence", 0, "url"), "javascript:alert(1)"),
            ("evidence", 0, "url"),
            "string_pattern_mismatch",
        ),
        (
            (("evidence", 0, "url"), "ftp://files.example.org/x"),
            ("evidence", 0, "url"),
            "string_pattern_mismatch",
        ),
        (
            (("evidence", 0, "url"), "https://x.org/" + "a" * 2000),
            ("evidence", 0, "url"),
            "string_too_long",
        ),
        ((("evidence", 0, "where"), "in-a-dream"), ("evidence", 0, "where"), "enum"),
        ((("evidence",), []), ("evidence",), "too_short"),
        (
            (("requester", "email"), "not-an-address"),
            ("requester", "email"),
            "string_pattern_mismatch",
        ),
        ((("requester",), None), ("requester",), "missing"),
        (
            (("subject", "account"), "Bad[[Name]]"),
            ("subject", "account"),
            "string_pattern_mismatch",
        ),
        (
            (("prior_attempts", 0), "javascript:void(0)"),
            ("prior_attempts", 0),
            "string_pattern_mismatch",
        ),
        ((("summary",), "bell\x07 in the text"), ("summary",), "string_pattern_mismatch"),
        (
            (("requester", "name"), "Rita\x1b[31m"),
            ("requester", "name"),
            "string_pattern_mismatch",
        ),
        (
            (("evidence", 0, "description"), "a\x00b"),
            ("evidence", 0, "description"),
            "string_pattern_mismatch",
        ),
        ((("priority",), "urgent"), ("priority",), "extra_forbidden"),
        ((("subject", "wiki"), ["enwiki"]), ("subject", "wiki"), "extra_forbidden"),
    ],
    ids=lambda v: None,
)
def test_request_shape_errors_name_field_and_rule(change: Change, loc: Loc, rule: str) -> None:
    assert (loc, rule) in shape_errors(R, change)


# --- DMCA notice ----------------------------------------------------------------------------

D = SubmissionKind.DMCA_NOTICE


def test_a_dmca_notice_missing_elements_is_answered_with_every_missing_one() -> None:
    broken = rules_broken(
        D,
        (("signature",), None),
        (("locations",), []),
        (("accuracy_statement",), False),
    )
    assert broken == {
        ("signature", "required_by_policy"),
        ("locations", "required_by_policy"),
        ("accuracy_statement", "required_by_policy"),
    }
    [error] = check(form(D, (("good_faith_statement",), None)), RULES, TODAY)
    assert error.message == "missing: " + INTAKE.dmca_elements["good_faith_statement"]


def test_an_empty_dmca_notice_lists_all_seven_statutory_elements() -> None:
    empty = FORMS[D].model_validate({"requester": EXAMPLES[D]["requester"]})
    assert {e.field for e in check(empty, RULES, TODAY)} == set(INTAKE.dmca_elements)


def test_a_complete_dmca_notice_goes_to_legal_with_its_elements() -> None:
    event = accept(form(D), RULES, submission_id="R-AAAABBBBCCCC", channel=Channel.FORM, now=NOW)
    assert event.routed_to == "legal" and event.action_type == "dmca-takedown"
    assert event.dmca is not None and event.dmca.signature == "Rita Reporter"


# --- child protection -----------------------------------------------------------------------


def test_a_child_protection_report_needs_only_a_description_and_is_urgent() -> None:
    minimal = FORMS[SubmissionKind.CHILD_PROTECTION_REPORT].model_validate({"summary": "x"})
    assert check(minimal, RULES, TODAY) == []
    event = accept(minimal, RULES, submission_id="R-AAAABBBBCCCC", channel=Channel.API, now=NOW)
    assert event.urgent is True
    assert event.requester is None
    assert (event.routed_to, event.action_type) == ("legal", "child-protection")
    assert {
        (loc, t)
        for loc, t in shape_errors(SubmissionKind.CHILD_PROTECTION_REPORT, (("summary",), None))
    } == {(("summary",), "missing")}


# --- appeal ---------------------------------------------------------------------------------

A = SubmissionKind.APPEAL


def test_an_appeal_of_an_action_the_policy_makes_final_is_refused_with_the_reason() -> None:
    [error] = check(form(A, (("action",), "conduct-warning")), RULES, TODAY)
    assert (error.field, error.rule) == ("action", "appealable")
    assert "not appealable" in error.message


def test_an_appeal_after_the_window_is_refused() -> None:
    window = POLICY.action("dmca-takedown").appeal_window_days
    assert window is not None
    late = TODAY - timedelta(days=window + 1)
    in_time = TODAY - timedelta(days=window)
    assert rules_broken(
        A, (("action",), "dmca-takedown"), (("action_date",), late.isoformat())
    ) == {("action_date", "appeal_window")}
    assert (
        rules_broken(A, (("action",), "dmca-takedown"), (("action_date",), in_time.isoformat()))
        == set()
    )
    future = (TODAY + timedelta(days=1)).isoformat()
    assert rules_broken(A, (("action_date",), future)) == {("action_date", "not_in_future")}


def test_an_appeal_of_an_unknown_action_or_without_a_case_is_refused() -> None:
    assert rules_broken(A, (("action",), "exile")) == {("action", "one_of")}
    assert ((("refers_to",), "missing")) in shape_errors(A, (("refers_to",), None))
    assert ((("refers_to",), "string_pattern_mismatch")) in shape_errors(
        A, (("refers_to",), "case 7")
    )


def test_an_appeal_is_routed_like_the_action_it_appeals() -> None:
    appeal = form(A, (("action",), "dmca-takedown"))
    event = accept(appeal, RULES, submission_id="R-AAAABBBBCCCC", channel=Channel.API, now=NOW)
    assert (event.routed_to, event.refers_to) == ("legal", "OA-AAAABBBBCCCC")


# --- breach, abuse, inquiry -----------------------------------------------------------------


def test_a_breach_by_event_presence_must_name_the_event() -> None:
    B = SubmissionKind.BREACH_REPORT
    assert rules_broken(B, (("breach",), "event-presence")) == {
        ("banned_event", "required_for_event_presence")
    }
    named = form(
        B,
        (("breach",), "event-presence"),
        (("banned_event",), {"name": "Wikimania", "on": "2026-08-01"}),
    )
    assert check(named, RULES, TODAY) == []
    event = accept(named, RULES, submission_id="R-AAAABBBBCCCC", channel=Channel.API, now=NOW)
    assert event.banned_event is not None and event.banned_event.on == date(2026, 8, 1)
    assert ((("breach",), "enum")) in shape_errors(B, (("breach",), "rumour"))
    assert ((("evidence",), "too_short")) in shape_errors(B, (("evidence",), []))


def test_an_abuse_report_names_staff_and_goes_to_the_policy_queue() -> None:
    AB = SubmissionKind.ABUSE_REPORT
    assert ((("named_staff",), "too_short")) in shape_errors(AB, (("named_staff",), []))
    event = accept(form(AB), RULES, submission_id="R-AAAABBBBCCCC", channel=Channel.API, now=NOW)
    assert event.named_staff == ["Staff Member (WMF)"]
    assert event.routed_to == INTAKE.kind("abuse-report").routed_to


def test_an_inquiry_keeps_each_question_separately() -> None:
    inq = SubmissionKind.INQUIRY
    event = accept(form(inq), RULES, submission_id="R-AAAABBBBCCCC", channel=Channel.API, now=NOW)
    assert event.questions == EXAMPLES[inq]["questions"]
    assert event.refers_to == "OA-AAAABBBBCCCC"
    assert ((("questions",), "too_short")) in shape_errors(inq, (("questions",), []))
    assert ((("questions", 1), "string_too_short")) in shape_errors(inq, (("questions", 1), ""))


# --- screening ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Ban him now. I know where you live, case handler.", "threat-to-staff"),
        ("Do it, or else. We will find you and your family.", "threat-to-staff"),
        (
            "Give me full control over the article about my company, please.",
            "preferential-treatment",
        ),
        (
            "As a major donor I expect this handled first; make me an admin.",
            "preferential-treatment",
        ),
    ],
)
def test_screening_flags_with_the_matched_reason_and_never_rejects(text: str, rule: str) -> None:
    flagged = form(R, (("summary",), text))
    assert check(flagged, RULES, TODAY) == []
    flags = screen(flagged, RULES)
    assert [f.rule for f in flags] == [rule]
    assert flags[0].reason == INTAKE.screening[rule].reason
    assert flags[0].matched and flags[0].matched.lower() in text.lower()
    event = accept(
        flagged,
        RULES,
        submission_id="R-AAAABBBBCCCC",
        channel=Channel.API,
        now=NOW,
        screening=flags,
    )
    assert event.screening == flags


def test_screening_reads_inquiry_questions() -> None:
    inquiry = form(SubmissionKind.INQUIRY, (("questions", 1), "Why? You will regret this."))
    assert [f.rule for f in screen(inquiry, RULES)] == ["threat-to-staff"]


def test_a_report_about_threats_is_not_itself_flagged() -> None:
    calm = form(R, (("summary",), "He threatened other editors and harassed them for months."))
    assert screen(calm, RULES) == []


# --- attachments, duplicates ----------------------------------------------------------------


def test_attachment_limits_come_from_the_policy() -> None:
    limits = INTAKE.attachments
    ok = AttachmentInfo("scan.pdf", "application/pdf; name=scan.pdf", 100)
    assert check_attachments([ok], RULES) == []
    errors = check_attachments(
        [
            ok,
            AttachmentInfo("x.exe", "application/x-msdownload", 10),
            AttachmentInfo("big.png", "image/png", limits.max_bytes + 1),
        ],
        RULES,
    )
    assert {(e.field, e.rule) for e in errors} == {
        ("attachments.1", "content_type"),
        ("attachments.2", "max_bytes"),
    }
    too_many = [ok] * (limits.max_count + 1)
    assert [(e.field, e.rule) for e in check_attachments(too_many, RULES)] == [
        ("attachments", "max_count")
    ]


def test_duplicate_is_the_latest_earlier_submission_inside_the_window() -> None:
    window = INTAKE.duplicate_window_days
    old = ("R-OLD", NOW - timedelta(days=window + 1), None)
    recent = ("R-RECENT", NOW - timedelta(days=1), None)
    older_recent = ("R-OLDER", NOW - timedelta(days=2), None)
    assert duplicate_of([old, older_recent, recent], NOW, window) == "R-RECENT"
    assert duplicate_of([old], NOW, window) is None
    assert duplicate_of([], NOW, window) is None


def test_a_later_duplicate_links_to_the_original_not_to_another_duplicate() -> None:
    """Issue 18: the third request about one account names the first, as the second does."""
    window = INTAKE.duplicate_window_days
    first = ("R-FIRST", NOW - timedelta(days=3), None)
    second = ("R-SECOND", NOW - timedelta(days=1), "R-FIRST")
    assert duplicate_of([first, second], NOW, window) == "R-FIRST"


def test_duplicate_target_is_action_and_canonical_account() -> None:
    one = form(R, (("subject", "account"), "troublesome_Editor"))
    other = form(R)
    assert one.target() == other.target() == "global-ban|troublesome editor"
    assert form(R, (("action",), "global-lock")).target() != other.target()
    # Look-alikes are one target: Cyrillic а, fullwidth letters, a capital I for an l.
    for alike in ("Vаndal1", "Ｖａｎｄａｌ１", "VandaI1"):
        assert (
            form(R, (("subject", "account"), alike)).target()
            == form(R, (("subject", "account"), "Vandal1")).target()
        ), alike
    assert (
        form(R, (("subject", "account"), "Vandal2")).target()
        != form(R, (("subject", "account"), "Vandal1")).target()
    )


# --- ids, fingerprint, the event -------------------------------------------------------------

ID = re.compile(r"^R-[A-Z2-7]{12}$")


def test_submission_id_is_random() -> None:
    """Not derived from anything a client sends: a guessable idempotency key no longer
    gives a predictable reference (a keyed submission's reference is an HMAC of its key
    under a secret kept in intake's store)."""
    ids = {new_submission_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(ID.match(i) for i in ids)


def test_fingerprint_tells_kinds_and_bodies_apart() -> None:
    assert fingerprint(form(R)) == fingerprint(form(R))
    assert fingerprint(form(R)) != fingerprint(
        form(R, (("summary",), EXAMPLES[R]["summary"] + "!"))
    )
    assert fingerprint(form(SubmissionKind.APPEAL)) != fingerprint(
        form(SubmissionKind.ABUSE_REPORT)
    )


@pytest.mark.parametrize(
    ("action", "team"), [("global-ban", "support-and-safety"), ("dmca-takedown", "legal")]
)
def test_a_request_is_routed_by_its_action(action: str, team: str) -> None:
    attachment = Attachment(name="a.pdf", content_type="application/pdf", size=3, sha256="0" * 64)
    event = accept(
        form(R, (("action",), action)),
        RULES,
        submission_id="R-AAAABBBBCCCC",
        channel=Channel.EMAIL,
        now=NOW,
        duplicate_of="R-EARLIEREARLI",
        attachments=[attachment],
    )
    assert (event.routed_to, event.action_type, event.kind) == (
        team,
        action,
        SubmissionKind.REQUEST,
    )
    assert event.received_at == NOW and event.channel is Channel.EMAIL
    assert event.duplicate_of == "R-EARLIEREARLI" and event.attachments == [attachment]
    assert event.subject is not None and event.subject.account == "Troublesome Editor"
    assert event.urgent is False


def test_the_policy_must_keep_every_statutory_dmca_element(tmp_path: Path) -> None:
    import yaml

    from casework.policy import PolicyError

    raw = yaml.safe_load((ROOT / "policy" / "office-actions.yaml").read_text())
    del raw["intake"]["dmca_elements"]["signature"]
    bad = tmp_path / "policy.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(PolicyError, match=r"intake: .*statutory elements missing: signature"):
        rules_of(load_policy(bad))


def test_the_policy_refuses_a_screening_pattern_that_is_not_a_regex(tmp_path: Path) -> None:
    import yaml

    from casework.policy import PolicyError

    raw = yaml.safe_load((ROOT / "policy" / "office-actions.yaml").read_text())
    raw["intake"]["screening"]["threat-to-staff"]["patterns"].append("(unclosed")
    bad = tmp_path / "policy.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(PolicyError, match=r"intake.screening.threat-to-staff.patterns"):
        rules_of(load_policy(bad))
