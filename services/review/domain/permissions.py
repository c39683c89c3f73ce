"""Every action a review use case performs; the console helper maps roles to them."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    READ_QUEUE = "read-queue"
    READ_CASE = "read-case"
    OPEN_CASE = "open-case"
    ASSIGN_CASE = "assign-case"
    ADD_NOTE = "add-note"
    ADD_EVIDENCE = "add-evidence"
    LINK_CASES = "link-cases"
    MERGE_DUPLICATE = "merge-duplicate"
    DRAFT_DECISION = "draft-decision"
    RECORD_DETERMINATION = "record-determination"
    SIGN_OFF = "sign-off"
    REVERSE_DECISION = "reverse-decision"
    ANSWER_INQUIRY = "answer-inquiry"
    SET_WAITING = "set-waiting"
    ORDER_RESTORATION = "order-restoration"
    MANAGE_STAFF = "manage-staff"
