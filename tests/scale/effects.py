"""What a scale run left behind: events on the topics (watched live, with their partition
and broker time), emails in the Maildir, and entries in the wikis' logs and log page."""

from __future__ import annotations

import asyncio
import email
import email.policy
import mailbox
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from casework.cloudevents import from_kafka
from casework.contract import topic_of
from deploy.credentials import bus_settings

APPROVED = "decision-approved.v1"
ENFORCED = "action-enforced.v1"
SENT = "notification-sent.v1"
OPENED = "case-opened.v1"
RECEIVED = "submission-received.v1"
WATCHED = ("intake", "review", "enforcement", "notify")
TOLD = ("affected-user", "email")  # the (audience, channel) that ends a case's run


@dataclass(frozen=True)
class Seen:
    topic: str
    partition: int
    at: float  # the record's timestamp, seconds
    kind: str  # the event type's last part, e.g. "action-enforced.v1"
    subject: str
    data: dict[str, Any]


@dataclass
class TopicWatch:
    """Reads every partition of the pipeline's topics from the start, without a group."""

    bootstrap: str
    seen: list[Seen] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _rewind: asyncio.Event = field(default_factory=asyncio.Event)

    def rewind(self) -> None:
        """Read every partition from its start again: the broker lost its data, and what
        services publish now starts at offset 0, below where this watch had read to."""
        self._rewind.set()

    def subjects(self, kind: str, **match: str) -> set[str]:
        return {
            s.subject
            for s in self.seen
            if s.kind == kind and all(s.data.get(k) == v for k, v in match.items())
        }

    def told(self) -> set[str]:
        """Cases whose affected user was emailed (their end state)."""
        audience, channel = TOLD
        return self.subjects(SENT, audience=audience, channel=channel)

    def notifications(self) -> set[tuple[str, str, str]]:
        """(subject, audience, channel) of every NotificationSent so far."""
        return {
            (s.subject, str(s.data.get("audience")), str(s.data.get("channel")))
            for s in self.seen
            if s.kind == SENT
        }

    def revisions(self) -> dict[str, int]:
        """The decision revision each case was approved at."""
        return {
            s.subject: int(s.data["decision"]["revision"]) for s in self.seen if s.kind == APPROVED
        }

    def partition_of(self, kind: str) -> dict[str, int]:
        return {s.subject: s.partition for s in self.seen if s.kind == kind}

    def duplicates(self, kind: str, **match: str) -> dict[str, int]:
        counts = Counter(
            s.subject
            for s in self.seen
            if s.kind == kind and all(s.data.get(k) == v for k, v in match.items())
        )
        return {subject: n for subject, n in counts.items() if n > 1}

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            **bus_settings(self.bootstrap).client_options(),
        )
        await consumer.start()
        try:
            await consumer.topics()
            partitions = [
                TopicPartition(topic_of(s), p)
                for s in WATCHED
                for p in sorted(consumer.partitions_for_topic(topic_of(s)) or ())
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while not self._stop.is_set():
                if self._rewind.is_set():
                    self._rewind.clear()
                    await consumer.seek_to_beginning(*partitions)
                batch = await consumer.getmany(timeout_ms=200, max_records=2000)
                for tp, records in batch.items():
                    for r in records:
                        event = from_kafka(r.key, r.value, r.headers)
                        kind = ".".join(event.type.rsplit(".", 2)[-2:])
                        self.seen.append(
                            Seen(
                                tp.topic,
                                tp.partition,
                                r.timestamp / 1000,
                                kind,
                                event.subject,
                                dict(event.data),
                            )
                        )
        finally:
            await consumer.stop()


@dataclass(frozen=True)
class Received:
    at: float  # when the SMTP sink stored it (from the Maildir file name)
    message: email.message.EmailMessage

    def __getitem__(self, header: str) -> str:
        return str(self.message[header])


def emails(maildir: Path) -> list[Received]:
    """Every email the sink received, in the order it stored them."""
    found = []
    for key, kept in mailbox.Maildir(maildir, create=False).items():
        parsed = email.message_from_bytes(bytes(kept), policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        seconds, _, rest = key.partition(".")
        micros = rest[1:].split("P", 1)[0] if rest.startswith("M") else "0"
        found.append(Received(int(seconds) + int(micros) / 1e6, parsed))
    return sorted(found, key=lambda r: r.at)


async def _query_all(
    http: aiohttp.ClientSession, api: str, params: dict[str, str], key: str
) -> list[dict[str, Any]]:
    """Every item of a list query, following `continue`."""
    items: list[dict[str, Any]] = []
    cont: dict[str, str] = {}
    while True:
        query = {"action": "query", "format": "json", "formatversion": "2", **params, **cont}
        async with http.get(api, params=query) as reply:
            data = await reply.json()
        if key == "revisions":
            pages = data["query"]["pages"]
            items += [r for p in pages for r in p.get("revisions", [])]
        else:
            items += data["query"][key]
        if "continue" not in data:
            return items
        cont = data["continue"]


async def block_targets(http: aiohttp.ClientSession, api: str) -> Counter[str]:
    """Block-log entries per blocked account (any block action: block or reblock)."""
    entries = await _query_all(
        http, api, {"list": "logevents", "letype": "block", "lelimit": "max"}, "logevents"
    )
    return Counter(str(e["title"]).removeprefix("User:") for e in entries)


async def notice_edits(http: aiohttp.ClientSession, api: str, account: str) -> Counter[str]:
    """The role account's office-action edits of user pages: per page title, how many."""
    contribs = await _query_all(
        http,
        api,
        {
            "list": "usercontribs",
            "ucuser": account,
            "ucnamespace": "2",
            "ucprop": "title|comment",
            "uclimit": "max",
        },
        "usercontribs",
    )
    return Counter(
        str(c["title"]).removeprefix("User:")
        for c in contribs
        if str(c.get("comment", "")).startswith("Office action")
    )


async def log_page_edits(http: aiohttp.ClientSession, api: str, title: str) -> list[str]:
    """The edit summaries of every revision of the public log page."""
    revisions = await _query_all(
        http,
        api,
        {"prop": "revisions", "titles": title, "rvprop": "comment", "rvlimit": "max"},
        "revisions",
    )
    return [str(r.get("comment", "")) for r in revisions]


async def log_pages(http: aiohttp.ClientSession, api: str, first: str) -> list[str]:
    """The public log's pages: the first, then its numbered subpages while they exist
    (services/notify/domain/log_pages.py)."""
    titles = [first]
    while await page_text(http, api, f"{first}/{len(titles) + 1}"):
        titles.append(f"{first}/{len(titles) + 1}")
    return titles


async def page_text(http: aiohttp.ClientSession, api: str, title: str) -> str:
    params = {
        "action": "query",
        "prop": "revisions",
        "titles": title,
        "rvprop": "content",
        "rvslots": "main",
        "format": "json",
        "formatversion": "2",
    }
    async with http.get(api, params=params) as reply:
        data = await reply.json()
    page = data["query"]["pages"][0]
    if "revisions" not in page:
        return ""
    return str(page["revisions"][0]["slots"]["main"]["content"])
