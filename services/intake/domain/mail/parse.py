"""Raw mail bytes to an :class:`InboundMail`, within limits. No I/O.

Anything the parser cannot read with confidence (over a limit, a broken MIME
structure, an unknown charset, bytes that are not valid in the declared charset,
control characters) raises :class:`ParseError` naming the rule; no other
exception leaves :func:`parse_mail`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from services.intake.domain.addresses import AddressError, normalised
from services.intake.domain.mail.html_text import html_to_text

DEFAULT_ATTACHMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.oasis.opendocument.text",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "text/plain",
        "text/csv",
        "text/html",
        "message/rfc822",
    }
)

# Defects that mean the structure or an encoding cannot be read as the sender meant it.
_STRUCTURE_DEFECTS: tuple[type[email_errors.MessageDefect], ...] = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.CloseBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.InvalidMultipartContentTransferEncodingDefect,
)
_ENCODING_DEFECTS: tuple[type[email_errors.MessageDefect], ...] = (
    email_errors.InvalidBase64PaddingDefect,
    email_errors.InvalidBase64CharactersDefect,
    email_errors.InvalidBase64LengthDefect,
)
# Signatures of signed mail: part of the transport, not content the requester sent.
_SIGNATURE_TYPES = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)
# As the input models refuse them (domain/forms.py TEXT_PATTERN).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HEADER_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MSG_ID = re.compile(r"<[^<>\s\ud800-\udfff]{1,500}>")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class ParseError(ValueError):
    """The mail cannot be accepted as it is; ``rule`` names the broken rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class MailLimits:
    max_bytes: int = 25 * 1024 * 1024
    max_header_line: int = 998  # RFC 5322 §2.1.1
    max_header_bytes: int = 64 * 1024
    max_headers: int = 300
    max_depth: int = 8
    max_parts: int = 100
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_attachments: int = 20
    attachment_types: frozenset[str] = DEFAULT_ATTACHMENT_TYPES


@dataclass(frozen=True)
class MailAttachment:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class InboundMail:
    sender: str
    sender_name: str
    recipients: tuple[str, ...]
    subject: str
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    language: str | None
    text: str
    attachments: tuple[MailAttachment, ...] = ()
    forwarded: tuple[str, ...] = ()
    # Why the mail was sent by a machine or to a list (RFC 3834 and list headers), so that
    # no answer must go back; None for mail a person sent.
    automated: str | None = None


@dataclass
class _Collected:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[MailAttachment] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    parts: int = 0


def parse_mail(raw: bytes, limits: MailLimits | None = None) -> InboundMail:
    limits = limits or MailLimits()
    if len(raw) > limits.max_bytes:
        raise ParseError("size", f"the message is larger than {limits.max_bytes} bytes")
    _check_header_section(raw, limits)
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        return _read(message, limits)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("depth", "the MIME structure is nested too deeply") from None
    except Exception as exc:  # the stdlib parser's failures on hostile input vary
        raise ParseError(
            "malformed", f"the message cannot be parsed ({type(exc).__name__})"
        ) from exc


def _check_header_section(raw: bytes, limits: MailLimits) -> None:
    end = len(raw)
    for separator in (b"\r\n\r\n", b"\n\n"):
        found = raw.find(separator)
        if found != -1:
            end = min(end, found)
    header = raw[:end]
    if len(header) > limits.max_header_bytes:
        raise ParseError(
            "header_size", f"the header is larger than {limits.max_header_bytes} bytes"
        )
    lines = header.splitlines()
    if any(len(line) > limits.max_header_line for line in lines):
        raise ParseError(
            "header_line_length", f"a header line is longer than {limits.max_header_line} bytes"
        )
    if sum(1 for line in lines if line[:1] not in (b" ", b"\t")) > limits.max_headers:
        raise ParseError("header_count", f"the message has more than {limits.max_headers} headers")
    if _HEADER_CONTROL.search(header):
        raise ParseError("control_characters", "the header contains control characters")
    try:
        header.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(
            "header_encoding", "the header contains 8-bit bytes that are not UTF-8"
        ) from None


def _read(message: EmailMessage, limits: MailLimits) -> InboundMail:
    sender, sender_name = _sender(message)
    subject = _header_text(message, "Subject")
    collected = _Collected()
    _collect(message, limits, collected, depth=0, forwarded=False)
    text = "\n\n".join(t for t in collected.plain if t.strip())
    if not text.strip():
        text = "\n\n".join(html_to_text(h) for h in collected.html)
    return InboundMail(
        sender=sender,
        sender_name=sender_name,
        recipients=tuple(_addresses(message, ("Delivered-To", "X-Original-To", "To", "Cc"))),
        subject=subject,
        message_id=next(iter(_message_ids(message, "Message-ID")), None),
        in_reply_to=tuple(_message_ids(message, "In-Reply-To")),
        references=tuple(_message_ids(message, "References")),
        language=_language(message),
        text=text.strip(),
        attachments=tuple(collected.attachments),
        forwarded=tuple(collected.forwarded),
        automated=_automated(message),
    )


_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})


def _automated(message: Message) -> str | None:
    auto = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto[:40]}"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    if message.get("List-Id") is not None:
        return "List-Id"
    return_path = message.get_all("Return-Path", [])
    if any(str(value).strip() in ("<>", "") for value in return_path):
        return "Return-Path: <>"
    return None


def _header_text(message: Message, name: str) -> str:
    value = message.get(name)
    text = "" if value is None else str(value)
    if _CONTROL.search(text):
        raise ParseError("control_characters", f"the {name} header contains control characters")
    _check_text(text, name)
    return " ".join(text.split())


def _check_text(text: str, name: str) -> None:
    """Bytes not valid in an encoded word's charset decode to lone surrogates, not text."""
    if _SURROGATE.search(text):
        raise ParseError("header_encoding", f"the {name} header has bytes invalid in its charset")


def _sender(message: Message) -> tuple[str, str]:
    if len(message.get_all("From", [])) != 1:
        raise ParseError("from", "the message must have exactly one From header")
    header = message.get("From")
    addresses = getattr(header, "addresses", ()) if header is not None else ()
    valid = [a for a in addresses if a.username and a.domain and "." in a.domain]
    if len(valid) != 1:
        raise ParseError("from", "the From header must hold exactly one valid address")
    name = valid[0].display_name or ""
    if _CONTROL.search(name) or _CONTROL.search(valid[0].addr_spec):
        raise ParseError("control_characters", "the From header contains control characters")
    _check_text(name + valid[0].addr_spec, "From")
    try:
        address = normalised(valid[0].addr_spec)
    except AddressError as exc:
        raise ParseError("from", f"the From address cannot be mailed: {exc}") from None
    return address, name


def _addresses(message: Message, names: Iterable[str]) -> Iterable[str]:
    seen: set[str] = set()
    for name in names:
        for header in message.get_all(name, []):
            for address in getattr(header, "addresses", ()):
                spec = address.addr_spec.lower()
                if spec and spec not in seen:
                    seen.add(spec)
                    yield spec


def _message_ids(message: Message, name: str) -> list[str]:
    values = message.get_all(name, [])
    return [i for v in values for i in _MSG_ID.findall(str(v))][:100]


def _language(message: Message) -> str | None:
    value = message.get("Content-Language")
    if value is None:
        return None
    primary = str(value).split(",")[0].strip().split("-")[0].lower()
    return primary if _LANGUAGE.match(primary) else None


def _collect(
    part: Message, limits: MailLimits, out: _Collected, *, depth: int, forwarded: bool
) -> None:
    out.parts += 1
    if out.parts > limits.max_parts:
        raise ParseError("part_count", f"the message has more than {limits.max_parts} MIME parts")
    if depth > limits.max_depth:
        raise ParseError("depth", f"MIME parts are nested deeper than {limits.max_depth} levels")
    _check_defects(part)
    content_type = part.get_content_type()
    if part.is_multipart() and content_type != "message/rfc822":
        children = part.get_payload()
        assert isinstance(children, list)
        for child in children:
            if not isinstance(child, Message):
                raise ParseError("mime_structure", "a multipart part holds no MIME parts")
            _collect(child, limits, out, depth=depth + 1, forwarded=forwarded)
        return
    if content_type == "message/rfc822":
        _collect_forwarded(part, limits, out, depth=depth, forwarded=forwarded)
        return
    disposition = part.get_content_disposition()
    if content_type in ("text/plain", "text/html") and disposition != "attachment":
        text = _decode_text(part, content_type)
        (out.plain if content_type == "text/plain" else out.html).append(text)
        return
    data = _payload(part)
    if content_type in _SIGNATURE_TYPES:
        return
    _add_attachment(part, content_type, data, limits, out, forwarded=forwarded)


def _collect_forwarded(
    part: Message, limits: MailLimits, out: _Collected, *, depth: int, forwarded: bool
) -> None:
    payload = part.get_payload()
    if not isinstance(payload, list) or len(payload) != 1:
        raise ParseError("mime_structure", "a message/rfc822 part holds no message")
    inner = payload[0]
    if not isinstance(inner, Message):
        raise ParseError("mime_structure", "a message/rfc822 part holds no message")
    nested = _Collected(parts=out.parts)
    _collect(inner, limits, nested, depth=depth + 1, forwarded=True)
    out.parts = nested.parts
    text = "\n\n".join(t for t in nested.plain if t.strip()) or "\n\n".join(
        html_to_text(h) for h in nested.html
    )
    origin = _header_text(inner, "From")
    subject = _header_text(inner, "Subject")
    out.forwarded.append(f"From: {origin}\nSubject: {subject}\n\n{text.strip()}".strip())
    out.forwarded.extend(nested.forwarded)
    data = inner.as_bytes(policy=policy.default.clone(max_line_length=None))
    name = _safe_name(part.get_filename() or f"{subject or 'forwarded'}.eml")
    _add_attachment(part, "message/rfc822", data, limits, out, forwarded=forwarded, name=name)


def _add_attachment(
    part: Message,
    content_type: str,
    data: bytes,
    limits: MailLimits,
    out: _Collected,
    *,
    forwarded: bool,
    name: str | None = None,
) -> None:
    label = name or _safe_name(part.get_filename() or f"part-{out.parts}")
    if len(data) > limits.max_attachment_bytes:
        raise ParseError(
            "attachment_size",
            f"attachment {label!r} is larger than {limits.max_attachment_bytes} bytes",
        )
    if forwarded:
        return  # kept inside the forwarded message's own .eml attachment
    if content_type not in limits.attachment_types:
        raise ParseError(
            "attachment_type", f"attachment {label!r} has a type not accepted: {content_type}"
        )
    out.attachments.append(MailAttachment(label, content_type, data))
    if len(out.attachments) > limits.max_attachments:
        raise ParseError(
            "attachment_count", f"the message has more than {limits.max_attachments} attachments"
        )


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    _check_defects(part)  # decoding records the transfer-encoding defects
    if data is None:
        return b""
    assert isinstance(data, bytes)
    return data


def _check_defects(part: Message) -> None:
    for defect in part.defects:
        if isinstance(defect, _STRUCTURE_DEFECTS):
            raise ParseError("mime_structure", f"broken MIME structure: {_describe(defect)}")
        if isinstance(defect, _ENCODING_DEFECTS):
            raise ParseError("encoding", f"invalid transfer encoding: {_describe(defect)}")


def _decode_text(part: Message, content_type: str) -> str:
    data = _payload(part)
    declared = part.get_content_charset() or "us-ascii"
    charset = "utf-8" if declared in ("us-ascii", "ascii") else declared
    try:
        if not codecs.lookup(charset)._is_text_encoding:
            raise LookupError(charset)
        text = data.decode(charset).replace("\r\n", "\n")
    except LookupError:
        raise ParseError(
            "charset", f"a {content_type} part uses an unknown charset {declared!r}"
        ) from None
    except UnicodeDecodeError:
        raise ParseError(
            "encoding", f"a {content_type} part is not valid in its charset {declared!r}"
        ) from None
    if _CONTROL.search(text):
        raise ParseError("control_characters", f"a {content_type} part contains control characters")
    return text


def _safe_name(name: str) -> str:
    cleaned = _UNSAFE_NAME.sub("_", name).strip(". ")
    return cleaned[:200] or "attachment"


def _describe(defect: email_errors.MessageDefect) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(defect).__name__.removesuffix("Defect"))
    return words.lower()
