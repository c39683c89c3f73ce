"""Review's wiring: the one place its parts are put together. `build` makes the use cases
and the JSON API, `add_staff_access` guards every route and serves the console, and
`wire` adds the consumer, the ledger enforcement reconciles from, and the duties."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from casework.cloudevents import CloudEvent
from casework.contract import (
    CaseProgressed,
    DecisionApproved,
    DuplicateMerged,
    SubmissionReceived,
)
from casework.dispatch import consumed_topics, dispatcher
from casework.errors import Rejected
from casework.http import STATUS_OF_KIND, HealthCheck, make_app
from casework.outbox import OutboxRelay
from casework.periodic import Duty, every
from casework.policy import Policy, PolicyError
from casework.reconcile import one_case_at_a_time
from casework.reconcile_wiring import reconcile_from, serve_ledger
from casework.runtime import Kit, Wiring
from casework.signing import Signer, TrustedKeys, load_signer
from casework.store import DocumentStore
from casework.trust import ReviewAuthority
from services.review.auth.admin import StaffAdmin
from services.review.auth.audit import CaseReads, SignIns
from services.review.auth.authenticators import BearerTokens, SessionCookies
from services.review.auth.directory import LiveStaff, open_directory
from services.review.auth.middleware import AccessControl
from services.review.auth.oidc import OidcClientConfig, OidcProvider
from services.review.auth.pending import PendingLogins, SignOffDrafts
from services.review.auth.policy import install
from services.review.auth.purge import Purge
from services.review.auth.sessions import SESSIONS, SessionStore
from services.review.auth.throttle import SignInThrottle
from services.review.auth.token_uses import TokenUses
from services.review.domain.opening import case_id_for
from services.review.domain.rules import check_rules
from services.review.domain.staff import StaffMember
from services.review.entrypoints.assertions import AssertionRoutes
from services.review.entrypoints.console.auth_routes import LoginRoutes
from services.review.entrypoints.console.oidc_routes import OidcRoutes, OidcSettings
from services.review.entrypoints.console.policy_words import PolicyWords
from services.review.entrypoints.console.render import render
from services.review.entrypoints.console.routes import ConsoleRoutes
from services.review.entrypoints.console.staff_routes import StaffPages
from services.review.entrypoints.routes import ReviewRoutes
from services.review.entrypoints.staff_api import StaffAdminRoutes
from services.review.handlers import HANDLERS
from services.review.settings import ReviewSettings
from services.review.usecases import CASES, ReviewCases
from services.review.usecases.base import StaffLookup
from services.review.usecases.deadlines import DeadlineDuty


@dataclass
class Review:
    app: web.Application
    cases: ReviewCases
    authority: ReviewAuthority
    duty: DeadlineDuty
    scan_seconds: float  # how often the deadline duty scans


async def build(
    store: DocumentStore,
    relay: OutboxRelay,
    policy: Policy,
    staff_by_id: StaffLookup,
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
    cases = ReviewCases(store, relay, policy, staff_by_id, signer, clock)
    cases.step_up = policy.review.step_up  # add_staff_access checks a provider is there
    await cases.ensure_indexes()
    app = make_app(registry=registry, health_checks=health_checks)
    ReviewRoutes(cases).register(app)
    duty = DeadlineDuty(store, relay, clock)
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
        scan_seconds=scan_seconds or policy.review.deadline_scan_seconds,
    )


def _reader(source: object, attr: str) -> Callable[[], float]:
    return lambda: float(getattr(source, attr))


async def open_staff(kit: Kit) -> LiveStaff:
    """The stored staff directory, seeded from the staff file if the store has none."""
    assert isinstance(kit.settings, ReviewSettings)
    return await open_directory(
        kit.store,
        kit.policy,
        kit.settings.staff_file,
        kit.settings.staff_refresh_seconds,
        lambda: datetime.now(UTC),
    )


def active_staff(staff: LiveStaff) -> StaffLookup:
    """Staff added or disabled since start-up: assignment sees the directory as it is."""
    return lambda staff_id: _active(staff.current().by_id(staff_id))


def _active(member: StaffMember | None) -> StaffMember | None:
    return None if member is None or member.disabled else member


async def add_staff_access(
    kit: Kit, app: web.Application, cases: ReviewCases, staff: LiveStaff
) -> Duty:
    """Guard every route of ``app`` and serve the console over ``cases``; return the duty
    that purges expired sessions and old sign-in counters."""
    assert isinstance(kit.settings, ReviewSettings)
    rules = install(kit.policy)
    sessions = SessionStore(kit.store, timedelta(hours=rules.session_hours))
    await kit.store.ensure_index(SESSIONS, "staff_id")
    reads = CaseReads(kit.store)
    await reads.prepare()
    sign_ins = SignIns(kit.store)
    await sign_ins.prepare()
    throttle = SignInThrottle(kit.store, rules.sign_in)
    purge = Purge(kit.store, lambda: datetime.now(UTC))
    await purge.prepare()
    uses = TokenUses(kit.store)
    drafts = SignOffDrafts(kit.store)
    oidc = await _oidc_routes(kit, staff, sessions, sign_ins, drafts)
    if oidc is not None:
        oidc.register(app)
    elif cases.step_up:  # nobody could sign those levels
        raise PolicyError(
            f"review.step_up: {', '.join(sorted(cases.step_up))} need a fresh sign-in at an"
            " identity provider, but none is configured (set REVIEW_OIDC_ISSUER, or remove them)"
        )
    access = AccessControl(
        authenticators=[BearerTokens(staff, uses), SessionCookies(staff, sessions)],
        rules=rules,
        reads=reads,
        console_error=_error_page,
    )
    app.middlewares.append(access.middleware)
    LoginRoutes(
        staff,
        sessions,
        kit.settings.secure_cookies,
        throttle,
        sign_ins,
        public_url=kit.settings.public_url,
        password_sign_in=kit.settings.password_sign_in,
        provider_logout=oidc.logout_link if oidc is not None else None,
    ).register(app)
    AssertionRoutes(
        load_signer(kit.settings.signing_key_file),
        rules,
        kit.settings.monitor_public_url,
        lambda: datetime.now(UTC),
    ).register(app)
    admin = StaffAdmin(staff, rules, lambda: datetime.now(UTC), uses=uses)
    StaffAdminRoutes(admin).register(app)
    StaffPages(admin, kit.policy).register(app)
    ConsoleRoutes(
        cases, kit.policy, rules, staff, drafts=drafts if oidc is not None else None
    ).register(app)
    return every("session-purge", rules.purge_seconds, purge.purge, registry=kit.registry)


async def _oidc_routes(
    kit: Kit, staff: LiveStaff, sessions: SessionStore, sign_ins: SignIns, drafts: SignOffDrafts
) -> OidcRoutes | None:
    """Sign-in through the identity provider, when one is configured."""
    settings = kit.settings
    assert isinstance(settings, ReviewSettings)
    if not settings.oidc_issuer:
        return None
    assert settings.oidc_client_id and settings.oidc_client_secret  # checked by the settings
    pending = PendingLogins(kit.store)
    await pending.prepare()
    provider = OidcProvider(
        OidcClientConfig(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value(),
            scopes=settings.oidc_scopes,
        )
    )
    return OidcRoutes(
        provider,
        OidcSettings(settings.oidc_claim, settings.public_url, settings.secure_cookies),
        staff,
        sessions,
        pending,
        drafts,
        sign_ins,
        kit.policy.review.step_up,
        words=PolicyWords(kit.policy),
    )


async def _error_page(request: web.Request, exc: Rejected) -> web.StreamResponse:
    return render(request, "error.html", status=STATUS_OF_KIND[exc.kind], problems=exc.errors)


# What review's downstreams reconcile from, each filtering the types it takes:
# enforcement and notify the approvals (and notify the merges), intake the public-level
# reports of where a requester's case stands (its tracking page).
LEDGER_TYPES = (DecisionApproved.TYPE, DuplicateMerged.TYPE, CaseProgressed.TYPE)


async def wire(kit: Kit) -> Wiring:
    assert isinstance(kit.settings, ReviewSettings)
    staff = await open_staff(kit)
    # A PolicyError in the review section: the runtime names the file and stops.
    review = await build(
        kit.store,
        kit.relay,
        kit.policy,
        active_staff(staff),
        registry=kit.registry,
        health_checks=kit.health_checks,
        signer=load_signer(kit.settings.signing_key_file),
        authority=ReviewAuthority.from_settings(kit.settings, kit.policy),
        scan_seconds=kit.settings.deadline_scan_seconds,
    )
    # Its downstreams reconcile from it: every approved decision, signed as published.
    # Service to service with its own token, never staff: answered ahead of staff access.
    serve_ledger(kit, review.app, LEDGER_TYPES, ahead_of_access=True)
    session_purge = await add_staff_access(kit, review.app, review.cases, staff)

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
            "deadline-scan": every(
                "deadline-scan", review.scan_seconds, review.duty.scan, registry=kit.registry
            ),
            "session-purge": session_purge,
            **reconcile_from(
                kit, "intake", [SubmissionReceived.TYPE], handled=opened, handle=handle
            ),
        },
    )
