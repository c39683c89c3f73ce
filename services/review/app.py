"""Review's wiring: the one place its parts are put together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from casework.cloudevents import CloudEvent
from casework.contract import DecisionApproved, SubmissionReceived
from casework.dispatch import consumed_topics, dispatcher
from casework.http import HealthCheck, make_app
from casework.outbox import OutboxRelay
from casework.policy import Policy, PolicyError
from casework.reconcile import one_case_at_a_time
from casework.reconcile_wiring import reconcile_from, serve_ledger
from casework.runtime import Kit, Wiring
from casework.signing import Signer, TrustedKeys, load_signer
from casework.store import DocumentStore
from casework.trust import ReviewAuthority
from services.review.auth.setup import add_staff_access, open_staff
from services.review.deadlines_duty import DeadlineDuty
from services.review.domain.opening import case_id_for
from services.review.domain.rules import check_rules
from services.review.domain.staff import StaffDirectory
from services.review.entrypoints.routes import ReviewRoutes
from services.review.handlers import HANDLERS
from services.review.settings import ReviewSettings
from services.review.usecases import CASES, ReviewCases


@dataclass
class Review:
    app: web.Application
    cases: ReviewCases
    authority: ReviewAuthority
    duty: DeadlineDuty


async def build(
    store: DocumentStore,
    relay: OutboxRelay,
    policy: Policy,
    staff: StaffDirectory,
    *,
    registry: CollectorRegistry,
    health_checks: dict[str, HealthCheck],
    signer: Signer,
    authority: ReviewAuthority | None = None,
    scan_seconds: float | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Review:
    problems = check_rules(policy)
    if problems:
        raise PolicyError("; ".join(problems))
    by_id = {member.id: member for member in staff.staff}
    cases = ReviewCases(store, relay, policy, by_id.get, signer, clock)
    await cases.ensure_indexes()
    app = make_app(registry=registry, health_checks=health_checks)
    ReviewRoutes(cases).register(app)
    duty = DeadlineDuty(store, relay, clock, scan_seconds or policy.review.deadline_scan_seconds)
    for attr, doc in (
        ("scans", "Deadline scans completed."),
        ("raised", "Deadline events (at risk, breached) raised."),
    ):
        gauge = Gauge(f"review_deadline_{attr}", doc, registry=registry)
        gauge.set_function(_reader(duty, attr))
    return Review(
        app=app,
        cases=cases,
        authority=authority or ReviewAuthority(TrustedKeys.of(signer.public_key()), policy),
        duty=duty,
    )


def _reader(source: object, attr: str) -> Callable[[], float]:
    return lambda: float(getattr(source, attr))


async def wire(kit: Kit) -> Wiring:
    assert isinstance(kit.settings, ReviewSettings)
    staff = await open_staff(kit)
    try:
        review = await build(
            kit.store,
            kit.relay,
            kit.policy,
            staff.current(),
            registry=kit.registry,
            health_checks=kit.health_checks,
            signer=load_signer(kit.settings.signing_key_file),
            authority=ReviewAuthority.from_settings(kit.settings, kit.policy),
            scan_seconds=kit.settings.deadline_scan_seconds,
        )
    except PolicyError as exc:
        raise PolicyError(f"{kit.settings.policy_file}: {exc}") from exc
    # Enforcement reconciles from it: every approved decision, signed as published.
    # Service to service with its own token, never staff: answered ahead of staff access.
    serve_ledger(kit, review.app, [DecisionApproved.TYPE], ahead_of_access=True)
    access = await add_staff_access(kit, review.app, review.cases, staff)

    # The consumer and the reconciliation duty: one event of a case at a time. Its own
    # topic is writable by others too: a reversal closes an appeal only when review's
    # signature and the policy's approvals hold (EventRefused: dead-lettered).
    handle = one_case_at_a_time(dispatcher(HANDLERS, review.cases, review.authority.admit))

    async def opened(event: CloudEvent) -> bool:
        return await kit.store.get(CASES, case_id_for(event.subject)) is not None

    return Wiring(
        app=review.app,
        consumes=consumed_topics(HANDLERS),
        handle=handle,
        once={
            "deadline-scan": review.duty.run,
            "session-purge": access.purge.run,
            **reconcile_from(
                kit, "intake", [SubmissionReceived.TYPE], handled=opened, handle=handle
            ),
        },
    )
