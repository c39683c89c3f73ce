"""Ops command line: tail a topic, a case's history, dead letters (list, replay), lag.

    python -m services.monitor tail TOPIC [--follow] [--limit N]
    python -m services.monitor history CASE_ID
    python -m services.monitor dlq list TOPIC
    python -m services.monitor dlq replay TOPIC [--id PARTITION:OFFSET|EVENT_ID ...]
    python -m services.monitor lag

TOPIC is a full topic name or a service name (``notify`` means ``officeactions.notify``;
for ``dlq`` commands, ``officeactions.notify.dlq``). The broker is KAFKA_BOOTSTRAP_SERVERS;
the bus credentials come from the same variables as a service's (KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE, ...): the ``ops`` principal.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Any

from casework.cloudevents import CloudEvent, MalformedEvent, from_kafka
from casework.config import ConfigError, ServiceSettings, load_settings
from casework.contract import NAMESPACE, SERVICES, dead_letter_topic_of, to_cloudevent, topic_of
from casework.contract.monitor import DeadLetterReplayed
from casework.kafka import EventPublisher, KafkaSettings
from services.monitor.adapters.lag import consumer_lag
from services.monitor.adapters.reader import read_all, read_topics


class OpsSettings(ServiceSettings):
    """The command line's bus settings: the service variables, client id casework-ops."""

    SERVICE = "ops"


def _kafka() -> KafkaSettings:
    return load_settings(OpsSettings).kafka()


def _topic(name: str, *, dlq: bool = False) -> str:
    if name.startswith(f"{NAMESPACE}."):
        return name
    return dead_letter_topic_of(name) if dlq else topic_of(name)


def _decode(record: Any) -> CloudEvent | None:
    try:
        return from_kafka(record.key, record.value, record.headers)
    except MalformedEvent:
        return None


def _format(record: Any, out: list[str]) -> None:
    event = _decode(record)
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    if event is None:
        out.append(f"{where}  (undecodable) key={record.key!r}")
        out.append(f"  {record.value!r}")
        return
    out.append(f"{event.time.isoformat()}  {event.type}  {event.subject}  id={event.id}  {where}")
    body = json.dumps(event.data, indent=2, sort_keys=True, ensure_ascii=False)
    out.extend("  " + line for line in body.splitlines())


def _dlq_headers(record: Any) -> dict[str, str]:
    return {n: v.decode("utf-8", "replace") for n, v in record.headers}


def _when(record: Any) -> tuple[datetime, int]:
    event = _decode(record)
    at = event.time if event else datetime.fromtimestamp(record.timestamp / 1000, UTC)
    return at, record.timestamp


async def tail(topic: str, *, follow: bool, limit: int) -> int:
    """The last ``limit`` events (by event time, across partitions), then new ones if following."""
    backlog: list[Any] = []
    live = False
    async for record in read_topics(_kafka(), [_topic(topic)], follow=follow):
        if record is None:
            lines: list[str] = []
            for kept in sorted(backlog, key=_when)[-limit:]:
                _format(kept, lines)
            print("\n".join(lines), flush=True)
            backlog.clear()
            live = True
        elif live:
            lines = []
            _format(record, lines)
            print("\n".join(lines), flush=True)
        else:
            backlog.append(record)
    return 0


async def history(case_id: str) -> int:
    records = await read_all(_kafka(), [topic_of(s) for s in SERVICES])
    events = [(r, e) for r in records if (e := _decode(r)) is not None]
    mine = [(r, e) for r, e in events if e.subject == case_id or e.data.get("case_id") == case_id]
    submissions = {e.data.get("submission_id") for _, e in mine if e.data.get("submission_id")}
    mine += [
        (r, e)
        for r, e in events
        if e.subject in submissions and (r, e) not in mine and e.data.get("case_id") is None
    ]
    if not mine:
        print(f"no events for case {case_id}", file=sys.stderr)
        return 1
    mine.sort(key=lambda re: (re[1].time, re[0].topic, re[0].offset))
    lines: list[str] = []
    for record, _ in mine:
        _format(record, lines)
    print("\n".join(lines))
    return 0


async def _replayed(dlq_topic: str) -> set[tuple[int, int]]:
    done: set[tuple[int, int]] = set()
    for record in await read_all(_kafka(), [topic_of("monitor")]):
        event = _decode(record)
        if event is None or event.type != DeadLetterReplayed.TYPE:
            continue
        data = DeadLetterReplayed.model_validate(event.data)
        if data.dead_letter_topic == dlq_topic:
            done.add((data.partition, data.offset))
    return done


async def dlq_list(topic: str) -> int:
    dlq = _topic(topic, dlq=True)
    letters = await read_all(_kafka(), [dlq])
    replayed = await _replayed(dlq)
    print(f"{len(letters)} dead letter(s) on {dlq}, {len(replayed)} replayed")
    for record in letters:
        h = _dlq_headers(record)
        state = "replayed" if (record.partition, record.offset) in replayed else "parked"
        print(
            f"{record.partition}:{record.offset}  {state}  id={h.get('ce_id', '-')}"
            f"  type={h.get('ce_type', '-')}  from={h.get('dlq_source_topic', '?')}"
            f"  group={h.get('dlq_consumer_group', '?')}  attempts={h.get('dlq_attempts', '?')}"
        )
        print(f"  error: {h.get('dlq_error_type', '?')}: {h.get('dlq_error', '')}")
    return 0


async def dlq_replay(topic: str, ids: list[str], by: str) -> int:
    dlq = _topic(topic, dlq=True)
    letters = await read_all(_kafka(), [dlq])
    replayed = await _replayed(dlq)
    wanted = set(ids)
    publisher = EventPublisher(_kafka())
    await publisher.start()
    done = skipped = 0
    try:
        for record in letters:
            h = _dlq_headers(record)
            place = f"{record.partition}:{record.offset}"
            if wanted and place not in wanted and h.get("ce_id") not in wanted:
                continue
            if (record.partition, record.offset) in replayed:
                skipped += 1
                print(f"{place}  already replayed, skipped")
                continue
            original = h.get("dlq_source_topic")
            if not original:
                print(f"{place}  no dlq_source_topic header, cannot replay", file=sys.stderr)
                continue
            headers = [(n, v) for n, v in record.headers if not n.startswith("dlq_")]
            await publisher.publish_raw(original, record.key, record.value, headers)
            note = DeadLetterReplayed(
                dead_letter_topic=dlq,
                partition=record.partition,
                offset=record.offset,
                original_topic=original,
                original_event_id=h.get("ce_id"),
                case_id=h.get("ce_subject") or (record.key.decode() if record.key else None),
                replayed_by=by,
                replayed_at=datetime.now(UTC),
            )
            await publisher.publish(topic_of("monitor"), to_cloudevent(note))
            done += 1
            print(f"{place}  replayed to {original}  id={h.get('ce_id', '-')}")
    finally:
        await publisher.stop()
    print(f"replayed {done}, skipped {skipped} already replayed")
    return 0


async def lag() -> int:
    found = await consumer_lag(_kafka(), [topic_of(s) for s in SERVICES])
    if not found:
        print("no consumer groups with committed offsets")
    for group, topics in found.items():
        for topic, n in topics.items():
            print(f"{group}  {topic}  {n}")
    print("note: the end offsets come from the broker; Tansu under-reports them (DESIGN.md)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.monitor", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tail", help="Print a topic's events, decoded.")
    t.add_argument("topic")
    t.add_argument("--follow", "-f", action="store_true", help="Keep printing new events.")
    t.add_argument("--limit", "-n", type=int, default=20, help="How many of the last events.")
    h = sub.add_parser("history", help="A case's events across topics in time order.")
    h.add_argument("case_id")
    d = sub.add_parser("dlq", help="Dead-letter topics.")
    dsub = d.add_subparsers(dest="dlq_command", required=True)
    dl = dsub.add_parser("list", help="List the parked messages.")
    dl.add_argument("topic")
    dr = dsub.add_parser("replay", help="Publish parked messages again on their original topic.")
    dr.add_argument("topic")
    dr.add_argument("--id", action="append", default=[], help="PARTITION:OFFSET or event id.")
    dr.add_argument("--by", default=None, help="Who replays (default: the login name).")
    sub.add_parser("lag", help="Consumer lag per group and topic.")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "tail":
        if args.limit < 1:
            print("error: --limit: must be at least 1", file=sys.stderr)
            return 2
        job = tail(args.topic, follow=args.follow, limit=args.limit)
    elif args.command == "history":
        job = history(args.case_id)
    elif args.command == "dlq" and args.dlq_command == "list":
        job = dlq_list(args.topic)
    elif args.command == "dlq":
        job = dlq_replay(args.topic, args.id, args.by or getpass.getuser())
    else:
        job = lag()
    try:
        _kafka()
    except ConfigError as exc:
        job.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(job)
    except KeyboardInterrupt:
        return 130
