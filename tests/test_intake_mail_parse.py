"""The mail channel's pure parts: MIME parsing within limits, and the template mapping.

The corpus in tests/data/mail holds real-looking mail: multipart/alternative with
quoted-printable, HTML-only in base64 and ISO-8859-1, KOI8-R and windows-1251 with RFC 2047
headers, a PDF attachment, a forwarded message/rfc822.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from casework.contract import SubmissionKind
from services.intake.domain.mail.mapping import Routing, map_mail, read_template, reference_in
from services.intake.domain.mail.parse import MailLimits, ParseError, parse_mail
from services.intake.settings import MailSettings, parse_addresses

CORPUS = Path(__file__).parent / "data" / "mail"
ROUTING = Routing(MailSettings().address_map(), wiki_hosts=frozenset({"sandbox.test"}))


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def mail(body: str, *, headers: str = "", content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        "From: Tester <tester@example.org>\r\nTo: requests@officeactions.test\r\n"
        f"Subject: test\r\nMessage-ID: <t-1@example.org>\r\n{headers}"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n"
    )
    return head.encode() + body.encode()


def test_alternative_prefers_plain_text_and_decodes_quoted_printable() -> None:
    parsed = parse_mail(corpus("alternative.eml"))
    assert parsed.sender == "alice@example.org"
    assert parsed.sender_name == "Alice Example"
    assert parsed.message_id == "<alt-0001@mx.example.org>"
    assert parsed.language == "en"
    assert "reverts each edit within minutes" in parsed.text  # soft line break joined
    assert "HTML version" not in parsed.text
    mapped = map_mail(SubmissionKind.REQUEST, parsed, ROUTING)
    assert mapped.missing == ()
    assert mapped.payload["action"] == "interaction-ban"
    assert mapped.payload["subject"] == {"account": "Troublesome_Editor", "wikis": ["sandbox"]}
    assert mapped.payload["evidence"] == [
        {
            "url": "https://sandbox.test/w/index.php?diff=1234",
            "description": "revert of my edit",
            "where": "on-wiki-public",
        }
    ]
    assert mapped.payload["prior_attempts"] == [
        "https://sandbox.test/wiki/Project:Noticeboard#Hounding"
    ]


def test_html_only_mail_becomes_text_with_links_and_numbered_questions() -> None:
    parsed = parse_mail(corpus("html_only.eml"))
    assert "color:red" not in parsed.text and "<p>" not in parsed.text
    assert "Seed User" in parsed.text and "Grüße" in parsed.text  # iso-8859-1, &nbsp;
    assert "https://sandbox.test/wiki/User:Seed" in parsed.text
    mapped = map_mail(SubmissionKind.INQUIRY, parsed, ROUTING)
    assert mapped.payload["refers_to"] == "OA-ABCDEFGHIJKL"
    assert mapped.payload["questions"] == [
        "Which clauses of the Terms of Use did I breach?",
        "Were the acts on-wiki or off-wiki?",
    ]


@pytest.mark.parametrize(
    ("name", "sender_name", "subject"),
    [("koi8r.eml", "Петр Иванов", "Запрос"), ("cp1251.eml", "Иван Петров", "Привет")],
)
def test_russian_charsets_and_encoded_headers(name: str, sender_name: str, subject: str) -> None:
    parsed = parse_mail(corpus(name))
    assert parsed.sender_name == sender_name
    assert parsed.subject == subject
    kind = ROUTING.kind_for(parsed.recipients[0])
    assert kind is not None
    mapped = map_mail(kind, parsed, ROUTING)
    assert mapped.language == "ru"
    assert mapped.missing == ()
    assert "участник" in mapped.payload["summary"].lower() or "бан" in mapped.payload["summary"]


def test_attachment_kept_with_type_and_bytes() -> None:
    parsed = parse_mail(corpus("dmca_attachment.eml"))
    [attachment] = parsed.attachments
    assert (attachment.name, attachment.content_type) == ("registration.pdf", "application/pdf")
    assert attachment.data.startswith(b"%PDF-1.4")
    payload = map_mail(SubmissionKind.DMCA_NOTICE, parsed, ROUTING).payload
    assert payload["good_faith_statement"] is True and payload["accuracy_statement"] is True
    assert payload["locations"] == ["https://sandbox.test/wiki/File:Harbour.jpg"]
    assert payload["signature"] == "/Jane Counsel/"


def test_forwarded_mail_kept_as_attachment_and_text() -> None:
    parsed = parse_mail(corpus("forwarded.eml"))
    [attachment] = parsed.attachments
    assert attachment.content_type == "message/rfc822"
    assert b"I am Banned_Again now" in attachment.data
    assert "you cannot stop me" in parsed.forwarded[0]
    mapped = map_mail(SubmissionKind.BREACH_REPORT, parsed, ROUTING)
    assert mapped.payload["breach"] == "sock"
    assert "you cannot stop me" in mapped.payload["summary"]


def test_missing_template_elements_are_named_with_the_label_to_add() -> None:
    parsed = parse_mail(mail("Please ban this person, they are awful to everyone around."))
    mapped = map_mail(SubmissionKind.REQUEST, parsed, ROUTING)
    assert [m.field for m in mapped.missing] == ["action", "subject.account", "evidence"]
    assert mapped.missing[0].message == "missing: add a line “Action: …” to your email"
    russian = parse_mail(mail("Прошу заблокировать участника, он оскорбляет всех вокруг."))
    asked = map_mail(SubmissionKind.APPEAL, russian, ROUTING).missing
    assert [m.field for m in asked] == ["action", "refers_to"]
    assert asked[1].message == "не хватает: добавьте в письмо строку «Дело: …»"


def test_long_text_is_shortened_and_kept_whole() -> None:
    parsed = parse_mail(mail("word " * 3000))
    mapped = map_mail(SubmissionKind.CHILD_PROTECTION_REPORT, parsed, ROUTING)
    assert len(mapped.payload["summary"]) <= ROUTING.summary_max
    assert mapped.full_text is not None and len(mapped.full_text) > 14000


def test_template_stops_at_signature_and_quoted_mail() -> None:
    template = read_template("Summary: hi\nbody?\n> quoted?\n-- \nsig?")
    assert template.questions == ["body?"]
    assert template.values["summary"] == ["hi"]


def test_reference_in_subject() -> None:
    assert reference_in("Re: [R-ABCDEFGHIJ23] your request") == "R-ABCDEFGHIJ23"
    assert reference_in("Appeal of OA-ABCDEFGHIJ23") is None


def test_address_map_plus_tags_and_errors() -> None:
    assert ROUTING.kind_for("DMCA+urgent@officeactions.test") == SubmissionKind.DMCA_NOTICE
    assert ROUTING.kind_for("nobody@officeactions.test") is None
    with pytest.raises(ValueError, match="unknown kind"):
        parse_addresses("x@y.test=bogus")


# --- limits and hostile input: a ParseError naming the rule, never another exception ------


def nested(depth: int) -> bytes:
    body = "text"
    for level in range(depth):
        body = (
            f"Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n"
            f"--b{level}\r\n{body}\r\n--b{level}--\r\n"
        )
    return (
        "From: t@example.org\r\nTo: requests@officeactions.test\r\nMIME-Version: 1.0\r\n" + body
    ).encode()


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (mail("x", headers="X-Long: " + "a" * 1200 + "\r\n"), "header_line_length"),
        (mail("x", headers="X-A: b\r\n" * 400), "header_count"),
        (mail("x", headers="X-Bad: a\x00b\r\n"), "control_characters"),
        (mail("a\x01b"), "control_characters"),
        (mail("page\x0cbreak"), "control_characters"),
        (mail("x", content_type="text/plain; charset=x-no-such"), "charset"),
        (mail("x", content_type="text/plain; charset=rot13"), "charset"),
        (mail("x").replace(b"\r\n\r\nx", b"\r\n\r\n\xff\xfe"), "encoding"),
        (
            mail("!!!", headers="Content-Transfer-Encoding: base64\r\n"),
            "encoding",
        ),
        (
            mail(
                "--zz\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
                content_type="multipart/mixed; boundary=zz",
            ),
            "mime_structure",
        ),
        (nested(12), "depth"),
        (b"To: requests@officeactions.test\r\n\r\nno sender", "from"),
        (b"\xff\xfe\x00garbage", "control_characters"),
        # Encoded words whose bytes are not text in their charset: the stdlib keeps them as
        # lone surrogates, which no store or encoder accepts (found by the MIME fuzzer).
        (
            mail("x").replace(b"From: Tester", b"From: =?utf-8?b?7aCA?="),
            "header_encoding",
        ),
        (
            mail("x").replace(b"From: Tester", b"From: =?unknown-8bit?q?=FF?="),
            "header_encoding",
        ),
    ],
)
def test_hostile_mail_gets_a_named_parse_error(raw: bytes, rule: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_mail(raw)
    assert caught.value.rule == rule


def test_limits_on_size_parts_and_attachments() -> None:
    with pytest.raises(ParseError, match="larger than 100 bytes") as too_big:
        parse_mail(corpus("alternative.eml"), MailLimits(max_bytes=100))
    assert too_big.value.rule == "size"
    with pytest.raises(ParseError) as parts:
        parse_mail(corpus("alternative.eml"), MailLimits(max_parts=2))
    assert parts.value.rule == "part_count"
    with pytest.raises(ParseError) as size:
        parse_mail(corpus("dmca_attachment.eml"), MailLimits(max_attachment_bytes=10))
    assert size.value.rule == "attachment_size"
    with pytest.raises(ParseError) as kind:
        parse_mail(corpus("dmca_attachment.eml"), MailLimits(attachment_types=frozenset()))
    assert kind.value.rule == "attachment_type"
