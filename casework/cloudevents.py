"""CloudEvents 1.0 envelope and its Kafka binary-mode mapping.

Binary mode: every context attribute travels as a ``ce_<name>`` header, the
data is the record value (JSON), the record key is the case id so that one
case's events stay in order on one partition.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


class MalformedEvent(ValueError):
    """A Kafka record that is not a valid CloudEvent of this system."""


@dataclass(frozen=True)
class CloudEvent:
    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    dataschema: str | None = None

    @property
    def key(self) -> str:
        """Kafka record key: the case (or submission) the event is about."""
        return self.subject

    def to_dict(self) -> dict[str, Any]:
        """Structured form, used where an event is stored (outbox, dead letters)."""
        out: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "datacontenttype": CONTENT_TYPE,
            "data": self.data,
        }
        if self.dataschema:
            out["dataschema"] = self.dataschema
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CloudEvent:
        try:
            return cls(
                id=str(raw["id"]),
                type=str(raw["type"]),
                source=str(raw["source"]),
                subject=str(raw["subject"]),
                time=_parse_time(str(raw["time"])),
                data=dict(raw["data"]),
                dataschema=raw.get("dataschema"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEvent(f"structured event: {exc}") from exc


Headers = list[tuple[str, bytes]]


def to_kafka(event: CloudEvent) -> tuple[bytes, bytes, Headers]:
    """Return (key, value, headers) for a Kafka record in binary mode."""
    headers: Headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", event.id.encode()),
        ("ce_type", event.type.encode()),
        ("ce_source", event.source.encode()),
        ("ce_subject", event.subject.encode()),
        ("ce_time", event.time.isoformat().encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    if event.dataschema:
        headers.append(("ce_dataschema", event.dataschema.encode()))
    value = json.dumps(event.data, separators=(",", ":"), sort_keys=True).encode()
    return event.key.encode(), value, headers


def from_kafka(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> CloudEvent:
    """Decode a binary-mode record; raise MalformedEvent naming what is wrong."""
    attrs: dict[str, str] = {}
    for name, raw in headers:
        if name.startswith("ce_"):
            try:
                attrs[name[3:]] = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedEvent(f"header {name}: not UTF-8") from exc
    for required in ("specversion", "id", "type", "source", "time"):
        if not attrs.get(required):
            raise MalformedEvent(f"header ce_{required}: missing")
    if attrs["specversion"] != SPEC_VERSION:
        raise MalformedEvent(f"header ce_specversion: must be {SPEC_VERSION}")
    subject = attrs.get("subject") or (key.decode("utf-8", "replace") if key else "")
    if not subject:
        raise MalformedEvent("header ce_subject: missing and the record has no key")
    if value is None:
        raise MalformedEvent("value: missing")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"value: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise MalformedEvent("value: must be a JSON object")
    try:
        time = _parse_time(attrs["time"])
    except ValueError as exc:
        raise MalformedEvent(f"header ce_time: {exc}") from exc
    return CloudEvent(
        id=attrs["id"],
        type=attrs["type"],
        source=attrs["source"],
        subject=subject,
        time=time,
        data=data,
        dataschema=attrs.get("dataschema"),
    )


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("time must carry a UTC offset")
    return parsed
