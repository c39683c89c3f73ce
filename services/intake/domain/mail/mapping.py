"""From a parsed mail to the submission it asks for: kind from the address, fields from the
template's "Label: value" lines, free text as the summary. Pure functions, no I/O.

Evidence: a labelled line ("On-wiki public: URL description") carries its class; a bare URL
in the free text is evidence too, classed on-wiki public when its host is one of the
configured wikis and off-wiki public otherwise (the requester can relabel it when asked).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from casework.contract import SubmissionKind
from casework.contract.common import EvidenceLocation
from casework.errors import FieldError
from services.intake.domain.mail.labels import ASK, BREACH_WORDS, LABELS, YES
from services.intake.domain.mail.parse import InboundMail
from services.intake.domain.urls import whatwg_host

REFERENCE = re.compile(r"\bR-[A-Z2-7]{12}\b")
CASE_REFERENCE = re.compile(r"\b(?:R|OA)-[A-Z2-7]{12}\b")
_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+")
_LABEL_LINE = re.compile(r"^\s*([^\W\d_][\w \-]{0,40}?)\s*[:：]\s*(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,2}[.)]\s+(.+)$")
_REPLY_HEADER = re.compile(r"^(On .{0,200} wrote:|.{0,200} пишет:|-{3,} ?Original Message ?-{3,})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SEPARATORS = " \t-—–:|,;"
_TRUNCATED = "\n[…] (the full text is attached as message.txt)"

REFERRING_KINDS = frozenset(
    {
        SubmissionKind.APPEAL,
        SubmissionKind.BREACH_REPORT,
        SubmissionKind.ABUSE_REPORT,
        SubmissionKind.INQUIRY,
    }
)

DEFAULT_ADDRESSES: dict[str, SubmissionKind] = {
    "requests": SubmissionKind.REQUEST,
    "dmca": SubmissionKind.DMCA_NOTICE,
    "childsafety": SubmissionKind.CHILD_PROTECTION_REPORT,
    "appeals": SubmissionKind.APPEAL,
    "reports": SubmissionKind.BREACH_REPORT,
    "staffconduct": SubmissionKind.ABUSE_REPORT,
    "inquiries": SubmissionKind.INQUIRY,
}


@dataclass(frozen=True)
class Routing:
    """Which address takes which kind (full addresses, lower-case), and the wikis' hosts."""

    addresses: Mapping[str, SubmissionKind]
    wiki_hosts: frozenset[str] = frozenset()
    summary_max: int = 5000

    def kind_for(self, address: str) -> SubmissionKind | None:
        local, _, domain = address.strip().strip("<>").lower().rpartition("@")
        return self.addresses.get(f"{local.split('+', 1)[0]}@{domain}")


@dataclass(frozen=True)
class Template:
    """A mail body read as the template: labelled values, free text, questions, bare URLs."""

    values: dict[str, list[str]] = field(default_factory=dict)
    free: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)

    def first(self, element: str) -> str | None:
        found = [v for v in self.values.get(element, []) if v]
        return found[0] if found else None


@dataclass(frozen=True)
class Mapped:
    kind: SubmissionKind
    payload: dict[str, Any]
    missing: tuple[FieldError, ...]
    language: str
    full_text: str | None = None  # set when the summary had to be shortened
    explicit_case: str | None = None


def read_template(text: str) -> Template:
    template = Template()
    for raw_line in text.splitlines():
        line = raw_line.rstrip()
        if line in ("--", "-- ") or _REPLY_HEADER.match(line.strip()):
            break  # signature or quoted earlier mail
        if line.lstrip().startswith(">"):
            continue
        label = _LABEL_LINE.match(line)
        element = LABELS.get(_norm(label.group(1))) if label else None
        if label and element and not line.lstrip().lower().startswith(("http:", "https:")):
            value = label.group(2).strip()
            template.values.setdefault(element, []).append(value)
            if element == "question" and value:
                template.questions.append(value)
            continue
        template.free.append(line)
        numbered = _NUMBERED.match(line)
        if numbered:
            template.questions.append(numbered.group(1).strip())
        elif line.strip().endswith("?"):
            template.questions.append(line.strip())
    return template


def map_mail(kind: SubmissionKind, mail: InboundMail, routing: Routing) -> Mapped:
    template = read_template(mail.text)
    language = _language(template, mail)
    summary, full_text = _summary(template, mail, routing.summary_max)
    explicit_case = _case(template.first("case"))
    payload: dict[str, Any] = {"requester": _requester(template, mail, language)}
    builder = _BUILDERS[kind]
    builder(payload, template, mail, routing, summary, explicit_case)
    missing = tuple(
        FieldError(name, "required", _ask(name, language))
        for name in _REQUIRED[kind]
        if not _present(payload, name)
    )
    return Mapped(kind, payload, missing, language, full_text, explicit_case)


def reference_in(subject: str) -> str | None:
    found = REFERENCE.search(subject)
    return found.group(0) if found else None


# --- per kind ------------------------------------------------------------------------------

_Builder = Callable[[dict[str, Any], "Template", InboundMail, "Routing", str, str | None], None]


def _request(
    p: dict[str, Any], t: Template, m: InboundMail, r: Routing, s: str, c: str | None
) -> None:
    p["action"] = _action(t.first("action"))
    p["summary"] = s
    p["subject"] = _subject(t)
    p["evidence"] = _evidence(t, r)
    p["prior_attempts"] = _urls(t.values.get("prior_attempt", []))


def _dmca(
    p: dict[str, Any], t: Template, m: InboundMail, r: Routing, s: str, c: str | None
) -> None:
    for element in ("copyrighted_work", "infringing_material", "contact_address", "signature"):
        p[element] = t.first(element)
    p["contact_phone"] = (t.first("contact_phone") or "")[:50]
    p["locations"] = _urls(t.values.get("location", [])) or [u for u, _ in _free_urls(t)]
    text = m.text.lower()
    if (
        _yes(t.first("good_faith_statement"))
        or "good faith belief" in text
        or ("добросовестно" in text)
    ):
        p["good_faith_statement"] = True
    if (
        _yes(t.first("accuracy_statement"))
        or "penalty of perjury" in text
        or ("лжесвидетельств" in text)
    ):
        p["accuracy_statement"] = True
    p["summary"] = s or None


def _child(
    p: dict[str, Any], t: Template, m: InboundMail, r: Routing, s: str, c: str | None
) -> None:
    p["summary"] = s
    p["evidence"] = _evidence(t, r)
    if t.first("account"):
        p["subject"] = _subject(t)


def _appeal(
    p: dict[str, Any], t: Template, m: InboundMail, r: Routing, s: str, c: str | None
) -> None:
    p["action"] = _action(t.first("action"))
    p["refers_to"] = c or _case(m.subject)
    action_date = t.first("action_date")
    if action_date and _DATE.match(action_date):
        p["action_date"] = action_date
    p["summary"] = s
    p["evidence"] = _evidence(t, r)
    if t.first("account"):
        p["subject"] = _subject(t)


def _breach(
    p: dict[str, Any], t: Template, m: InboundMail, r: Routing, s: str, c: str | None
) -> None:
    word = _norm(t.first("breach") or "")
    p["breach"] = BREACH_WORDS.get(word, word) or None
    p["refers_to"] = c or _case(m.subject)
    p["summary"] = s
    p["subject"] = _subject(t)
    p["evidence"] = _evidence(t, r)
    event = t.first("event")
    if event:
        on = t.first("event_date")
        p["banned_event"] = {"name": event[:200], **({"on": on} if on and _DATE.match(on) else {})}


def _abuse(
    p: dict[str, Any], t: Template, m: InboundMail, r: Routing, s: str, c: str | None
) -> None:
    p["named_staff"] = [
        n.strip() for v in t.values.get("staff", []) for n in re.split(r"[,;]", v) if n.strip()
    ]
    p["refers_to"] = c or _case(m.subject)
    p["summary"] = s
    p["evidence"] = _evidence(t, r)


def _inquiry(
    p: dict[str, Any], t: Template, m: InboundMail, r: Routing, s: str, c: str | None
) -> None:
    p["refers_to"] = c or _case(m.subject) or _case(m.text)
    p["questions"] = list(dict.fromkeys(q[:2000] for q in t.questions if q))[:20]


_BUILDERS: dict[SubmissionKind, _Builder] = {
    SubmissionKind.REQUEST: _request,
    SubmissionKind.DMCA_NOTICE: _dmca,
    SubmissionKind.CHILD_PROTECTION_REPORT: _child,
    SubmissionKind.APPEAL: _appeal,
    SubmissionKind.BREACH_REPORT: _breach,
    SubmissionKind.ABUSE_REPORT: _abuse,
    SubmissionKind.INQUIRY: _inquiry,
}

# What the template must give for each kind before the rules can judge it. The DMCA
# statutory elements are checked by the policy's rules, which name every missing one.
_REQUIRED: dict[SubmissionKind, tuple[str, ...]] = {
    SubmissionKind.REQUEST: ("action", "subject.account", "summary", "evidence"),
    SubmissionKind.DMCA_NOTICE: (),
    SubmissionKind.CHILD_PROTECTION_REPORT: ("summary",),
    SubmissionKind.APPEAL: ("action", "refers_to", "summary"),
    SubmissionKind.BREACH_REPORT: ("breach", "refers_to", "subject.account", "summary", "evidence"),
    SubmissionKind.ABUSE_REPORT: ("named_staff", "summary"),
    SubmissionKind.INQUIRY: ("refers_to", "questions"),
}


# --- elements ------------------------------------------------------------------------------


def _norm(label: str) -> str:
    return " ".join(label.lower().replace("ё", "е").split())


def _yes(value: str | None) -> bool:
    return value is not None and _norm(value).rstrip(".!") in YES


def _action(value: str | None) -> str | None:
    if not value:
        return None
    return re.sub(r"[\s_]+", "-", value.strip().lower())


def _case(text: str | None) -> str | None:
    found = CASE_REFERENCE.search(text or "")
    return found.group(0) if found else None


def _subject(t: Template) -> dict[str, Any]:
    wikis = [w.lower() for v in t.values.get("wikis", []) for w in re.split(r"[,;\s]+", v) if w]
    account = t.first("account")
    return {"account": account, "wikis": wikis} if account else {}


def _urls(values: list[str]) -> list[str]:
    return [u for v in values for u in _URL.findall(v)]


def _describe(line: str, url: str) -> str:
    rest = line.replace(url, " ").strip(_SEPARATORS)
    return " ".join(rest.split())[:2000] or "link given in the email"


def _free_urls(t: Template) -> list[tuple[str, str]]:
    return [(url, _describe(line, url)) for line in t.free for url in _URL.findall(line)]


def _evidence(t: Template, r: Routing) -> list[dict[str, str]]:
    items: list[dict[str, str]] = []
    for element, values in t.values.items():
        if not element.startswith("evidence"):
            continue
        labelled = element.partition(":")[2]
        for value in values:
            for url in _URL.findall(value):
                where = labelled or _default_class(url, r)
                items.append({"url": url, "description": _describe(value, url), "where": where})
    for url, description in _free_urls(t):
        items.append({"url": url, "description": description, "where": _default_class(url, r)})
    unique = {item["url"]: item for item in items}
    return list(unique.values())[:200]


def _default_class(url: str, r: Routing) -> str:
    on_wiki = whatwg_host(url) in r.wiki_hosts
    return (EvidenceLocation.ON_WIKI_PUBLIC if on_wiki else EvidenceLocation.OFF_WIKI_PUBLIC).value


def _language(t: Template, mail: InboundMail) -> str:
    stated = (t.first("language") or "").strip().lower()
    if re.fullmatch(r"[a-z]{2,3}", stated):
        return stated
    if mail.language:
        return mail.language
    return "ru" if _CYRILLIC.search(mail.text) else "en"


def _requester(t: Template, mail: InboundMail, language: str) -> dict[str, str]:
    email = t.first("email")
    name = t.first("name") or mail.sender_name or mail.sender.split("@")[0]
    return {
        "name": name[:200],
        "email": email if email and _EMAIL.match(email) else mail.sender,
        "language": language,
    }


def _summary(t: Template, mail: InboundMail, limit: int) -> tuple[str, str | None]:
    parts = [*t.values.get("summary", []), "\n".join(t.free)]
    own = re.sub(r"\n{3,}", "\n\n", "\n".join(p for p in parts if p).strip())
    text = own
    for forwarded in mail.forwarded:
        text += f"\n\n--- Forwarded message ---\n{forwarded}"
    text = text.strip()
    if len(text) <= limit:
        return text, None
    return text[: limit - len(_TRUNCATED)].rstrip() + _TRUNCATED, text


def _present(payload: Mapping[str, Any], name: str) -> bool:
    value: Any = payload
    for key in name.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return bool(value)


_TEXTS = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,  # plain text, carried in an event; notify escapes what it renders
    undefined=StrictUndefined,
)


def _ask(name: str, language: str) -> str:
    english, russian = ASK.get(name, (name, name))
    russian_text = language == "ru"
    template = _TEXTS.get_template(f"missing.{'ru' if russian_text else 'en'}.txt.j2")
    return template.render(label=russian if russian_text else english).strip()
