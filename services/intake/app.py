"""Intake's wiring: the one place its parts are put together."""

from __future__ import annotations

from casework.contract import SubmissionReceived
from casework.http import make_app
from casework.policy import PolicyError
from casework.reconcile_wiring import serve_ledger
from casework.runtime import Kit, Wiring
from services.intake.mail.wiring import mail_duties
from services.intake.routes import IntakeRoutes
from services.intake.rules import Rules
from services.intake.settings import IntakeSettings
from services.intake.submissions import Submissions
from services.intake.web.csrf import CsrfTokens
from services.intake.web.pages import FormPages


def check_references(kit: Kit) -> None:
    """The intake section names teams and action types; they must exist in the policy."""
    known = {"team": set(kit.policy.teams), "action type": set(kit.policy.action_types)}
    for key, what, name in kit.policy.intake.references():
        if name not in known[what]:
            raise PolicyError(
                f"{kit.settings.policy_file}: {key}: unknown {what} {name!r} "
                f"(known: {', '.join(sorted(known[what]))})"
            )


async def wire(kit: Kit) -> Wiring:
    settings = kit.settings
    assert isinstance(settings, IntakeSettings)
    check_references(kit)
    rules = Rules(kit.policy, settings.wiki_hosts())
    submissions = Submissions(kit.store, kit.relay, rules)
    await submissions.prepare()
    app = make_app(registry=kit.registry, health_checks=kit.health_checks)
    IntakeRoutes(submissions, settings.wiki_base()).register(app)
    FormPages(submissions, CsrfTokens(settings.form_secret)).register(app)
    # Review reconciles from it: every stored submission has a case there.
    serve_ledger(kit, app, [SubmissionReceived.TYPE])
    mail = mail_duties(kit, submissions)
    return Wiring(app=app, duties=mail.listeners, once=mail.pollers)
