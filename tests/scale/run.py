"""One scale run: start N instances per service, drive the cases, disrupt the cluster
part-way (SIGKILL one instance of each consuming service, or whatever a ``Disruption``
does), and wait until every case reached its end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.scale.cases import ScaleCase, functionaries_yaml
from tests.scale.cluster import Cluster, metric
from tests.scale.driver import Driven, Driver
from tests.scale.effects import ENFORCED, SENT, TOLD, TopicWatch

CONSUMING = ("review", "enforcement", "notify")
STALLED = 60.0  # seconds without a new notification: stop waiting, report what is missing


@dataclass
class Outcome:
    cases: list[ScaleCase]
    driven: Driven
    watch: TopicWatch
    handled: dict[str, float] = field(default_factory=dict)  # per instance, before any kill
    killed_at: float | None = None  # just before the first SIGKILL
    notify_deaths: list[float] = field(default_factory=list)  # each killed notify gone
    killed: dict[str, str] = field(default_factory=dict)  # service -> the instance killed
    leases_at_kill: dict[str, dict[str, str]] = field(default_factory=dict)
    leases_at_end: dict[str, dict[str, str]] = field(default_factory=dict)
    at_kill: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    enforced_at: float = 0.0  # every case's ActionEnforced seen
    told_at: float = 0.0  # every case's affected user emailed
    finished_at: float = 0.0  # every notification sent, or the wait given up
    missing: set[tuple[str, str, str]] = field(default_factory=set)  # notifications never sent
    resent: dict[str, Any] = field(default_factory=dict)  # emails repeated across the kill

    @property
    def case_ids(self) -> set[str]:
        return set(self.driven.approved_at)

    def summary(self) -> str:
        took = self.finished_at - self.started_at
        enforced = self.enforced_at - self.started_at
        told = self.told_at - self.started_at
        return (
            f"{len(self.case_ids)} cases: all enforced after {enforced:.1f} s, affected users"
            f" told after {told:.1f} s, every notification after {took:.1f} s"
            f" ({len(self.missing)} missing); revisions above 1"
            f" {sorted(c for c, r in self.watch.revisions().items() if r > 1)};"
            f" handled per instance {self.handled}; review requests"
            f" {self.driven.requests_by_instance}; at kill {self.at_kill}, killed"
            f" {self.killed}, leases then {self.leases_at_kill}, at the end {self.leases_at_end};"
            f" {len(self.driven.retries)} retried requests {self.driven.retries[:6]}"
        )


def start_services(cluster: Cluster, instances: int) -> None:
    """Every consuming instance healthy before intake, which opens the door, starts."""
    functionaries = cluster.root / "functionaries.yaml"
    functionaries.write_text(functionaries_yaml(), encoding="utf-8")
    cluster.extra_env["FUNCTIONARIES_FILE"] = str(functionaries)
    cluster.start_each(["notify", "enforcement", "review"], instances)
    cluster.start("intake", 1)


def scrape_handled(cluster: Cluster) -> dict[str, float]:
    return {
        p.name: metric(p.url, "consumer_events_handled")
        for service in CONSUMING
        for p in cluster.live(service)
    }


Act = Callable[[Outcome], Awaitable[None]]


@dataclass(frozen=True)
class Disruption:
    """Something done to the cluster once ``after`` cases were approved."""

    after: int
    act: Act


async def run_cases(
    cluster: Cluster,
    cases: list[ScaleCase],
    *,
    kill_after: int | None = None,
    disruptions: Sequence[Disruption] = (),
    within: float = 420.0,
    stalled: float = STALLED,
) -> Outcome:
    """Drive ``cases``; if ``kill_after``, SIGKILL one instance of each consuming service
    once that many cases were approved (``kill_lease_holders``); each of ``disruptions``
    acts once its count of cases was approved. Returns when every notification the cases
    must cause was sent (NotificationSent seen), or with ``missing`` set once none came for
    ``stalled`` seconds or ``within`` seconds passed."""
    cluster.create_accounts([c.account for c in cases if c.ban])
    watch = TopicWatch(cluster.bootstrap)
    watching = asyncio.create_task(watch.run())
    outcome = Outcome(cases, Driven(), watch, started_at=time.time())
    deadline = time.monotonic() + within
    planned = list(disruptions)
    if kill_after is not None:
        planned.append(Disruption(kill_after, kill_lease_holders(cluster)))
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=60)
        ) as http:
            driver = Driver(
                http, cluster.live("intake")[0].url, lambda: cluster.live("review"), outcome.driven
            )
            driving = asyncio.create_task(driver.run(cases))
            for disruption in sorted(planned, key=lambda d: d.after):
                while len(outcome.driven.approved_at) < disruption.after:
                    if driving.done():
                        await driving  # its failure, or it finished before the point
                        raise AssertionError(
                            f"every case was approved before {disruption.after} were"
                        )
                    await asyncio.sleep(0.05)  # wait-ok: deadline poll for the disruption point
                    assert time.monotonic() < deadline, "a disruption point was not reached in time"
                await disruption.act(outcome)
            await driving
        await _until_told(outcome, deadline, stalled)
        outcome.finished_at = time.time()
        if kill_after is None:
            outcome.handled = scrape_handled(cluster)
        for service in CONSUMING:
            outcome.leases_at_end[service] = await cluster.leases(service)
        return outcome
    finally:
        watch.stop()
        await watching


def kill_lease_holders(cluster: Cluster) -> Act:
    """SIGKILL one instance of each consuming service: the one holding its outbox relay's
    lease, so that its once-only duties have to move too."""

    async def act(outcome: Outcome) -> None:
        watch = outcome.watch
        outcome.handled = scrape_handled(cluster)
        outcome.at_kill = {
            "approved": len(outcome.driven.approved_at),
            "enforced": len(watch.subjects(ENFORCED)),
            "told": len(watch.told()),
        }
        victims = {}
        for service in CONSUMING:
            leases = await cluster.leases(service)
            outcome.leases_at_kill[service] = leases
            holder = leases.get("outbox-relay", f"{service}-2")
            victims[service] = next(p for p in cluster.live(service) if p.name == holder)
        outcome.killed_at = time.time()
        for service, victim in victims.items():
            cluster.kill(victim)
            outcome.killed[service] = victim.name
            if service == "notify":
                outcome.notify_deaths.append(time.time())

    return act


async def _until_told(outcome: Outcome, deadline: float, stalled: float) -> None:
    """Wait until every notification the approved cases must cause was seen sent, or none
    came for ``stalled`` seconds, or the deadline passed (``missing`` says what is not)."""
    watch = outcome.watch
    expected = outcome.case_ids
    wanted: set[tuple[str, str, str]] = set()
    for case_id in expected:
        case = outcome.driven.cases[case_id]
        wanted |= case.expected_notifications(case_id, outcome.driven.references[case_id])
    progress, progressed = -1, time.monotonic()
    # Read incrementally: the watch's list only grows, and scanning all of it five times a
    # second took the driver a core's tenth of the CPU the services under test need.
    enforced: set[str] = set()
    told: set[str] = set()
    got: set[tuple[str, str, str]] = set()
    read = 0
    while True:
        fresh = watch.seen[read:]
        read += len(fresh)
        for s in fresh:
            if s.kind == ENFORCED:
                enforced.add(s.subject)
            elif s.kind == SENT:
                sent = (s.subject, str(s.data.get("audience")), str(s.data.get("channel")))
                got.add(sent)
                if sent[1:] == TOLD:
                    told.add(s.subject)
        if not outcome.enforced_at and expected <= enforced:
            outcome.enforced_at = time.time()
        if not outcome.told_at and expected <= told:
            outcome.told_at = time.time()
        outcome.missing = wanted - got
        if not outcome.missing:
            return
        if len(got) != progress:
            progress, progressed = len(got), time.monotonic()
        if time.monotonic() - progressed > stalled or time.monotonic() > deadline:
            return  # the checks on the effects say what is missing
        await asyncio.sleep(0.2)  # wait-ok: deadline poll for the pipeline's end
