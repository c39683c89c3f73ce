"""Signatures and sign-off chains, without I/O: what ``ReviewAuthority.admit`` lets through.

The end-to-end proof on the real broker, wiki and SMTP server is
``tests/test_trust_end_to_end.py``; here every rule is checked one by one, fast.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from casework.cloudevents import CloudEvent
from casework.config import ServiceSettings
from casework.contract import (
    AffectedUser,
    ClauseGround,
    Decision,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    RestorationOrdered,
    SignOff,
    to_cloudevent,
)
from casework.policy import load_policy
from casework.signing import (
    KeyFileError,
    Signer,
    TrustedKeys,
    generate_key_pair,
    key_id,
    load_public_keys,
    load_signer,
)
from casework.trust import EventRefused, ReviewAuthority, sign_event
from tests.fixtures.keys import full_chain, reversal_approvals

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = Signer(Ed25519PrivateKey.generate())
AUTHORITY = ReviewAuthority(TrustedKeys.of(KEY.private_key.public_key()), POLICY)


def decision(action_type: str = "global-ban", language: str = "en") -> Decision:
    clause = POLICY.clauses.items["ucoc-3-1"]
    return Decision(
        action_type=action_type,
        subject=AffectedUser(account="Troublesome Editor", email="te@example.org"),
        grounds=[
            ClauseGround(
                id="ucoc-3-1",
                catalogue_version=POLICY.clauses.version,
                source=clause.source,
                section=clause.section,
                text=clause.text,
            )
        ],
        public_rationale="Sustained harassment.",
        appealable=POLICY.action(action_type).appealable,
        language=language,
    )


def approval(
    signoffs: list[SignOff] | None = None, action_type: str = "global-ban", **fields: Any
) -> DecisionApproved:
    return DecisionApproved(
        case_id="OA-TRUST0000001",
        decision=decision(action_type, fields.pop("language", "en")),
        signoffs=full_chain(action_type, POLICY, NOW) if signoffs is None else signoffs,
        approved_at=NOW,
        **fields,
    )


def signed(data: Any, signer: Signer = KEY) -> CloudEvent:
    return sign_event(to_cloudevent(data), signer)


def refused(event: CloudEvent, rule: str) -> str:
    with pytest.raises(EventRefused) as caught:
        AUTHORITY.admit(event)
    assert caught.value.rule == rule, str(caught.value)
    return str(caught.value)


def with_data(event: CloudEvent, change: Any) -> CloudEvent:
    data = copy.deepcopy(event.data)
    change(data)
    return replace(event, data=data)


# --- signatures ------------------------------------------------------------------------


def test_a_complete_signed_approval_is_admitted_as_typed_data() -> None:
    admitted = AUTHORITY.admit(signed(approval()))
    assert isinstance(admitted, DecisionApproved)
    assert [s.level for s in admitted.signoffs] == POLICY.action("global-ban").signoff


def test_an_unsigned_approval_is_refused() -> None:
    assert "missing" in refused(to_cloudevent(approval()), "signature")


def test_a_signature_by_a_key_review_does_not_have_is_refused() -> None:
    stranger = Signer(Ed25519PrivateKey.generate())
    assert "not a trusted review key" in refused(signed(approval(), stranger), "signature")


def test_a_signature_whose_key_id_is_review_but_value_is_another_key_is_refused() -> None:
    stranger = Signer(Ed25519PrivateKey.generate())
    event = signed(approval(), stranger)
    event = with_data(event, lambda d: d["signature"].update(key_id=KEY.key_id))
    assert "does not match" in refused(event, "signature")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["decision"]["subject"].update(account="Innocent Bystander"),
        lambda d: d["decision"].update(revision=2),
        lambda d: d["signoffs"][0].update(staff_id="mallory"),
        lambda d: d["signoffs"].pop(),
        lambda d: d.update(expedited=True),
        lambda d: d["decision"]["grounds"][0].update(text="Something else."),
        lambda d: d.update(unknown_extra_field="ignored by readers, still signed"),
    ],
    ids=["subject", "revision", "signer", "chain", "expedited", "clause-text", "extra-field"],
)
def test_any_change_to_a_signed_field_is_refused(tamper: Any) -> None:
    refused(with_data(signed(approval()), tamper), "signature")


def test_a_signed_approval_replayed_as_another_case_is_refused() -> None:
    event = signed(approval())
    moved = with_data(event, lambda d: d.update(case_id="OA-OTHER000001"))
    refused(replace(moved, subject="OA-OTHER000001"), "signature")
    refused(replace(event, subject="OA-OTHER000001"), "signature")  # the key alone


def test_a_signed_approval_replayed_as_another_type_or_from_another_source_is_refused() -> None:
    event = signed(approval())
    refused(replace(event, type=DecisionDeclined.TYPE), "signature")
    refused(replace(event, source="/officeactions/intake"), "source")


def test_malformed_signatures_are_refused_not_crashed_on() -> None:
    event = signed(approval())
    for bad in (None, "x", {"alg": "RS256"}, {"alg": "Ed25519", "key_id": KEY.key_id}):
        refused(with_data(event, lambda d, bad=bad: d.update(signature=bad)), "signature")
    broken = {"alg": "Ed25519", "key_id": KEY.key_id, "value": "!!!not base64!!!"}
    refused(with_data(event, lambda d: d.update(signature=broken)), "signature")


def test_unsigned_types_pass_through_and_every_mailing_type_must_be_signed() -> None:
    declined = DecisionDeclined(
        case_id="OA-TRUST0000001",
        level="ts-manager",
        staff_id="bob",
        comment="no",
        declined_at=NOW,
    )
    refused(to_cloudevent(declined), "signature")
    assert isinstance(AUTHORITY.admit(signed(declined)), DecisionDeclined)
    order = RestorationOrdered(
        case_id="OA-TRUST0000001",
        wiki="sandbox",
        tampering_id="T-1",
        ordered_by="bob",
        ordered_at=NOW,
    )
    refused(to_cloudevent(order), "signature")
    assert AUTHORITY.admit(signed(order)) == order


# --- the chain -------------------------------------------------------------------------


def test_a_chain_missing_a_level_is_refused_even_when_signed() -> None:
    chain = full_chain("global-ban", POLICY, NOW)
    assert "not expedited" in refused(signed(approval(chain[:-1])), "chain")
    refused(signed(approval([])), "chain")


def test_a_level_signed_twice_or_one_person_at_two_levels_is_refused() -> None:
    chain = full_chain("global-ban", POLICY, NOW)
    twice = [*chain[:3], chain[2].model_copy(update={"staff_id": "erin"})]
    assert "signed twice" in refused(signed(approval(twice)), "chain")
    same = [chain[0], chain[1].model_copy(update={"staff_id": "ALICE"}), *chain[2:]]
    assert "more than one level" in refused(signed(approval(same)), "chain")


def test_levels_out_of_order_or_not_approving_are_refused() -> None:
    chain = full_chain("global-ban", POLICY, NOW)
    refused(signed(approval([chain[1], chain[0], *chain[2:]])), "chain")
    declined = [*chain[:-1], chain[-1].model_copy(update={"verdict": "decline"})]
    refused(signed(approval(declined)), "chain")


def test_an_unknown_action_type_is_refused() -> None:
    event = with_data(
        to_cloudevent(approval()), lambda d: d["decision"].update(action_type="summary-execution")
    )
    assert "unknown action type" in refused(sign_event(event, KEY), "chain")
    invalid = with_data(to_cloudevent(approval()), lambda d: d["decision"].update(revision=0))
    refused(sign_event(invalid, KEY), "contract")


def test_the_language_gate_holds_on_the_consumer_side() -> None:
    assert "fluent" in refused(signed(approval(language="ru")), "language_gate")
    fluent = [
        s.model_copy(update={"languages": ["en", "ru"]}) if i == 0 else s
        for i, s in enumerate(full_chain("global-ban", POLICY, NOW))
    ]
    assert AUTHORITY.admit(signed(approval(fluent, language="ru")))


def test_expedited_approval_only_where_the_policy_expedites_and_after_its_levels() -> None:
    chain = full_chain("child-protection", POLICY, NOW)
    rule = POLICY.review.expedited["child-protection"]
    signed_now = chain[: chain.index(next(s for s in chain if s.level in rule.proceed_after)) + 1]
    outstanding = [s.level for s in chain[len(signed_now) :]]
    ok = approval(signed_now, "child-protection", expedited=True, outstanding_levels=outstanding)
    assert AUTHORITY.admit(signed(ok))
    lying = approval(signed_now, "child-protection", expedited=True, outstanding_levels=[])
    if outstanding:
        refused(signed(lying), "chain")
    ban = full_chain("global-ban", POLICY, NOW)
    not_expedited = approval(ban[:2], expedited=True, outstanding_levels=["x"])
    assert "not expedited" in refused(signed(not_expedited), "chain")


# --- reversals -------------------------------------------------------------------------


def reversal(approvals: list[SignOff], grounds: Any = "error") -> DecisionReversed:
    return DecisionReversed(
        case_id="OA-TRUST0000001",
        decision=decision(),
        reason="Reversed.",
        reversed_by=approvals[0].staff_id if approvals else "x",
        reversed_at=NOW,
        grounds=grounds,
        approvals=approvals,
    )


def test_a_reversal_of_a_multi_level_decision_needs_enough_distinct_people() -> None:
    needed = POLICY.review.reversal_approvals_needed(len(POLICY.action("global-ban").signoff))
    assert needed >= 2
    enough = reversal_approvals(POLICY, 4, NOW)
    assert isinstance(AUTHORITY.admit(signed(reversal(enough))), DecisionReversed)
    assert "needs" in refused(signed(reversal(enough[:1])), "reversal")
    same = [enough[0], enough[1].model_copy(update={"staff_id": enough[0].staff_id})]
    refused(signed(reversal(same)), "chain")
    refused(signed(reversal([])), "reversal")


def test_two_people_at_one_reversal_level_may_reverse_together() -> None:
    first = reversal_approvals(POLICY, 4, NOW)[0]
    colleague = first.model_copy(update={"staff_id": "erin"})
    assert AUTHORITY.admit(signed(reversal([first, colleague])))


def test_a_reversal_approval_must_come_from_a_reversal_level() -> None:
    enough = reversal_approvals(POLICY, 4, NOW)
    handler = enough[1].model_copy(update={"level": "case-handler", "staff_id": "alice"})
    refused(signed(reversal([enough[0], handler])), "reversal")


def test_a_decline_after_expedited_enforcement_needs_one_chain_level_that_declined() -> None:
    decline = SignOff(
        level="director",
        staff_id="dave",
        verdict="decline",
        comment="no",
        languages=["en"],
        signed_at=NOW,
    )
    ok = reversal([decline], "declined-after-expedited")
    assert AUTHORITY.admit(signed(ok))
    outsider = decline.model_copy(update={"level": "auditor"})
    refused(signed(reversal([outsider], "declined-after-expedited")), "reversal")
    approving = decline.model_copy(update={"verdict": "approve"})
    refused(signed(reversal([approving], "declined-after-expedited")), "reversal")


# --- keys and rotation -----------------------------------------------------------------


def test_rotation_trusts_old_and_new_public_keys_during_the_overlap(tmp_path: Path) -> None:
    old_private, old_public = generate_key_pair(tmp_path / "old")
    new_private, new_public = generate_key_pair(tmp_path / "new")
    assert (old_private.stat().st_mode & 0o777) == 0o600
    settings = ServiceSettings(
        CASEWORK_DATA_DIR=tmp_path, CASEWORK_REVIEW_PUBLIC_KEYS=f"{old_public}, {new_public}"
    )
    overlap = ReviewAuthority.from_settings(settings, POLICY)
    old, new = load_signer(old_private), load_signer(new_private)
    assert overlap.keys.ids == sorted([old.key_id, new.key_id])
    assert overlap.admit(signed(approval(), old))
    assert overlap.admit(signed(approval(), new))
    # After the overlap the old key is dropped: what it signs is refused.
    after = ReviewAuthority.from_settings(
        ServiceSettings(CASEWORK_DATA_DIR=tmp_path, CASEWORK_REVIEW_PUBLIC_KEYS=str(new_public)),
        POLICY,
    )
    with pytest.raises(EventRefused, match="not a trusted review key"):
        after.admit(signed(approval(), old))
    # One file may also carry both keys.
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(old_public.read_bytes() + new_public.read_bytes())
    assert set(load_public_keys([bundle])) == {old.key_id, new.key_id}


def test_key_files_that_are_missing_or_wrong_are_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_signer(tmp_path / "absent.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(KeyFileError, match="no PEM public key"):
        load_public_keys([junk])
    with pytest.raises(KeyFileError, match=r"junk\.pem"):
        load_signer(junk)
    assert key_id(KEY.private_key.public_key()).startswith("ed25519:")
