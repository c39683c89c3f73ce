"""Names, value types and the event base shared by every part of the contract."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

NAMESPACE = "officeactions"
SERVICES = ("intake", "review", "enforcement", "notify", "monitor")
# Services that only read (a dead-letter topic each, no topic of their own).
READ_MODELS = ("transparency",)


# Public-level events (casework.contract.public) travel apart from their producer's other
# events, so that a consumer facing the internet reads a topic that carries nothing else.
PUBLIC_TOPIC = f"{NAMESPACE}.public"


def topic_of(service: str) -> str:
    """The topic a service publishes its events on (public-level ones: PUBLIC_TOPIC)."""
    return f"{NAMESPACE}.{service}"


def topic_for(event_type: type[EventData]) -> str:
    """The topic events of this type travel on."""
    return event_type.TOPIC or topic_of(event_type.PRODUCER)


def dead_letter_topic_of(service: str) -> str:
    """Where a consuming service parks the messages it cannot handle."""
    return f"{NAMESPACE}.{service}.dlq"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a UTC offset")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


def _no_signature(value: str) -> str:
    if "~~~" in value:
        raise ValueError("must not contain ~~~ (a wiki would expand it into a signature)")
    return value


# MediaWiki user names: no link or template syntax and no control characters, so a
# name can be written into wikitext safely.
Account = Annotated[
    str,
    Field(min_length=1, max_length=255, pattern=r"^[^#<>\[\]|{}/@:\x00-\x1f\x7f]+$"),
    AfterValidator(_no_signature),
]
WikiId = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]
# A page title as the wiki names it (namespace prefix included); no wikitext syntax.
PageTitle = Annotated[
    str,
    Field(min_length=1, max_length=255, pattern=r"^[^#<>\[\]|{}\x00-\x1f\x7f]+$"),
    AfterValidator(_no_signature),
]


def _parsed_url(value: str) -> str:
    """A link every reader can parse: a host, and a port that is a number (the pattern
    alone lets through ``http://[`` and ``http://host:x``, which urllib refuses)."""
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError as exc:
        raise PydanticCustomError(
            "url", "not a parseable URL ({problem})", {"problem": str(exc)}
        ) from None
    if not parts.hostname:
        raise PydanticCustomError("url", "a URL needs a host")
    return value


Url = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000), AfterValidator(_parsed_url)]


def canonical_account(name: str) -> str:
    """MediaWiki's form of a user name: underscores are spaces, the first letter upper-case."""
    spaced = " ".join(name.replace("_", " ").split())
    return spaced[:1].upper() + spaced[1:]


class EvidenceLocation(StrEnum):
    """Where an act happened: the seed correspondence's question 2."""

    ON_WIKI_PUBLIC = "on-wiki-public"
    ON_WIKI_PRIVATE = "on-wiki-private"
    OFF_WIKI_PUBLIC = "off-wiki-public"
    OFF_WIKI_PRIVATE = "off-wiki-private"
    IN_PERSON = "in-person"


class Audience(StrEnum):
    """Who may see a field. Staff see everything but legal-privileged text."""

    PUBLIC = "public"
    AFFECTED_USER = "affected-user"
    REQUESTER = "requester"
    FUNCTIONARIES = "functionaries"
    STAFF = "staff"
    LEGAL_PRIVILEGED = "legal-privileged"


class Part(BaseModel):
    """A value inside an event: frozen, and tolerant of fields it does not know."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class EventData(BaseModel):
    """Base of every event's data. TYPE is the CloudEvents type, PRODUCER its service."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    TYPE: ClassVar[str]
    PRODUCER: ClassVar[str]
    TOPIC: ClassVar[str | None] = None  # None: topic_of(PRODUCER)

    def event_subject(self) -> str:
        raise NotImplementedError
