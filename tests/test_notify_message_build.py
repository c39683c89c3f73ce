"""Building a message: the same bytes as with the stdlib's default policy, made cheaply.

The stdlib's header registry makes a new class for every header it stores and parses
every value again; notify keeps the classes and the repeated headers (bounded).
"""

from __future__ import annotations

import email.policy
import re
from email.message import EmailMessage
from email.policy import EmailPolicy

from aiosmtplib.email import flatten_message

from services.notify.adapters.smtp import HEADERS, build_message

SENDER = 'Trust & Safety "Office" <ts@officeactions.test>'


def built(i: int, policy: EmailPolicy[EmailMessage] | None = None) -> bytes:
    message = build_message(
        sender=SENDER,
        to=f"Ри́та {i} <rita{i}@example.org>",
        subject=f"Ваше обращение R-{i:07d} получено — a long subject line that must be folded"
        " somewhere past the seventy-eighth column",
        body=f"Здравствуйте, Рита {i}.\nWe received your report.\n",
        html=f"<p>Здравствуйте, Рита {i}.</p>\n",
        message_id=f"<{i}.ack@officeactions.test>",
        language="ru",
        in_reply_to=f"<original.{i}@mail.example.org>",
        **({} if policy is None else {"policy": policy}),
    )
    flat = flatten_message(message, utf8=False, cte_type="8bit")
    flat = re.sub(rb"Date: [^\r]*\r\n", b"Date: (now)\r\n", flat)
    return re.sub(rb"={15}\d+==", b"(boundary)", flat)


def test_same_bytes_as_the_default_policy() -> None:
    for i in range(3):
        assert built(i) == built(i, email.policy.default)


def test_header_classes_are_made_once() -> None:
    first = build_message(
        sender=SENDER, to="a@example.org", subject="a", body="a", message_id="<a@x>", language="en"
    )
    second = build_message(
        sender=SENDER, to="b@example.org", subject="b", body="b", message_id="<b@x>", language="en"
    )
    for name in ("From", "To", "Subject", "Message-ID", "Date", "Content-Type"):
        assert type(first[name]) is type(second[name]), name


def test_what_is_kept_is_bounded() -> None:
    for i in range(600):
        built(i)
    classes, parsed = HEADERS.kept()
    assert parsed <= HEADERS.PARSED
    assert classes <= len(HEADERS.registry) + 1
