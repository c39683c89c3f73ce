"""The mail template's "Label: value" lines, in English and Russian (README: Email intake).

Each entry maps a label, compared case-insensitively with "ё" read as "е", to the element it
fills. Evidence labels carry the class of where the act happened.
"""

from __future__ import annotations

from casework.contract.common import EvidenceLocation

LABELS: dict[str, str] = {
    # requester
    "name": "name",
    "имя": "name",
    "email": "email",
    "e-mail": "email",
    "электронная почта": "email",
    "language": "language",
    "язык": "language",
    # what is asked
    "action": "action",
    "действие": "action",
    "summary": "summary",
    "описание": "summary",
    "краткое описание": "summary",
    "account": "account",
    "user": "account",
    "учетная запись": "account",
    "участник": "account",
    "wikis": "wikis",
    "wiki": "wikis",
    "вики": "wikis",
    "prior attempt": "prior_attempt",
    "prior attempts": "prior_attempt",
    "earlier attempt": "prior_attempt",
    "предыдущая попытка": "prior_attempt",
    "предыдущие попытки": "prior_attempt",
    "case": "case",
    "reference": "case",
    "дело": "case",
    "номер дела": "case",
    "action date": "action_date",
    "дата действия": "action_date",
    # evidence, by where it happened
    "evidence": "evidence",
    "доказательство": "evidence",
    "доказательства": "evidence",
    "on-wiki public": f"evidence:{EvidenceLocation.ON_WIKI_PUBLIC}",
    "в вики публично": f"evidence:{EvidenceLocation.ON_WIKI_PUBLIC}",
    "on-wiki private": f"evidence:{EvidenceLocation.ON_WIKI_PRIVATE}",
    "в вики скрыто": f"evidence:{EvidenceLocation.ON_WIKI_PRIVATE}",
    "off-wiki public": f"evidence:{EvidenceLocation.OFF_WIKI_PUBLIC}",
    "вне вики публично": f"evidence:{EvidenceLocation.OFF_WIKI_PUBLIC}",
    "off-wiki private": f"evidence:{EvidenceLocation.OFF_WIKI_PRIVATE}",
    "вне вики непублично": f"evidence:{EvidenceLocation.OFF_WIKI_PRIVATE}",
    "in person": f"evidence:{EvidenceLocation.IN_PERSON}",
    "лично": f"evidence:{EvidenceLocation.IN_PERSON}",
    # DMCA notice (17 U.S.C. § 512(c)(3)(A))
    "copyrighted work": "copyrighted_work",
    "work": "copyrighted_work",
    "произведение": "copyrighted_work",
    "infringing material": "infringing_material",
    "material": "infringing_material",
    "нарушающий материал": "infringing_material",
    "location": "location",
    "locations": "location",
    "расположение": "location",
    "address": "contact_address",
    "contact address": "contact_address",
    "адрес": "contact_address",
    "phone": "contact_phone",
    "телефон": "contact_phone",
    "good faith": "good_faith_statement",
    "good-faith statement": "good_faith_statement",
    "good faith statement": "good_faith_statement",
    "добросовестность": "good_faith_statement",
    "accuracy": "accuracy_statement",
    "accuracy statement": "accuracy_statement",
    "точность": "accuracy_statement",
    "signature": "signature",
    "подпись": "signature",
    # breach reports
    "breach": "breach",
    "нарушение": "breach",
    "event": "event",
    "мероприятие": "event",
    "event date": "event_date",
    "дата мероприятия": "event_date",
    # abuse of office or staff actions
    "staff": "staff",
    "сотрудник": "staff",
    "сотрудники": "staff",
    # inquiries
    "question": "question",
    "вопрос": "question",
}

# Words that answer a yes/no element (the DMCA statements) in the affirmative.
YES = frozenset({"yes", "y", "true", "i agree", "agree", "да", "согласен", "согласна"})

# Breach kinds as a requester may write them.
BREACH_WORDS: dict[str, str] = {
    "sock": "sock",
    "sockpuppet": "sock",
    "sock puppet": "sock",
    "виртуал": "sock",
    "content": "content",
    "контент": "content",
    "материалы": "content",
    "event": "event-presence",
    "event-presence": "event-presence",
    "event presence": "event-presence",
    "мероприятие": "event-presence",
}

# The label a requester is asked to add for a missing element: (English, Russian).
ASK: dict[str, tuple[str, str]] = {
    "action": ("Action", "Действие"),
    "summary": ("Summary", "Описание"),
    "subject.account": ("Account", "Учетная запись"),
    "evidence": ("Evidence", "Доказательство"),
    "refers_to": ("Case", "Дело"),
    "breach": ("Breach", "Нарушение"),
    "named_staff": ("Staff", "Сотрудник"),
    "questions": ("Question", "Вопрос"),
}
