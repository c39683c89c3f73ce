"""The office actions policy as data: the real file, its deadlines, and the errors of bad files."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from casework.contract import DisclosurePlan, Question
from casework.policy import Deadline, Policy, PolicyError, add_business_days, load_policy
from casework.policy.translations import REFUSALS
from services.enforcement.policy import EnforcementRules
from services.intake.policy import IntakeRules
from services.monitor.policy import MonitorRules
from services.notify.domain.views import NO_GROUNDS
from tests.policy_support import RULES_OF, load_checked

ROOT = Path(__file__).resolve().parent.parent
POLICY_FILE = ROOT / "policy" / "office-actions.yaml"
RAW: dict[str, Any] = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))

FRIDAY = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY_FILE)


# --- the real policy file ---------------------------------------------------------------------


def test_the_real_policy_file_loads(policy: Policy) -> None:
    assert policy.version
    assert {"global-ban", "dmca-takedown", "child-protection"} <= set(policy.action_types)
    assert policy.clauses.items


def test_every_action_is_routed_to_a_known_team_and_signed_by_known_levels(policy: Policy) -> None:
    for name, action in policy.action_types.items():
        assert action.routed_to in policy.teams, name
        assert set(action.signoff) <= set(policy.signoff_levels), name
        assert len(set(action.signoff)) == len(action.signoff), name


def test_global_ban_needs_the_whole_chain_in_order(policy: Policy) -> None:
    chain = policy.action("global-ban").signoff
    assert len(chain) >= 2
    assert chain == ["case-handler", "ts-manager", "legal-counsel", "director"]


def test_global_ban_deadline_is_28_days(policy: Policy) -> None:
    deadline = policy.action("global-ban").deadline
    assert deadline is not None
    assert deadline.due(FRIDAY) == FRIDAY + timedelta(days=28)


def test_dmca_deadline_is_7_business_days_skipping_weekends(policy: Policy) -> None:
    deadline = policy.action("dmca-takedown").deadline
    assert deadline is not None
    due = deadline.due(FRIDAY)
    # Fri + Mon..Fri (5) + Mon, Tue (2) = the Tuesday eleven calendar days later, same time.
    assert due == datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    assert due.strftime("%A") == "Tuesday"


def test_child_protection_deadline_is_24_hours(policy: Policy) -> None:
    deadline = policy.action("child-protection").deadline
    assert deadline is not None
    assert deadline.due(FRIDAY) == FRIDAY + timedelta(hours=24)


def test_actions_without_a_deadline_have_none(policy: Policy) -> None:
    assert policy.action("conduct-warning").deadline is None


# --- business days ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (FRIDAY, 1, datetime(2026, 11, 23, 15, 30, tzinfo=UTC)),  # Fri -> Mon
        (SATURDAY, 1, datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),  # Sat -> Mon
        (SATURDAY, 5, datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),  # Sat -> Fri
        (FRIDAY - timedelta(days=4), 4, FRIDAY),  # Mon -> Fri
        (FRIDAY, 0, FRIDAY),
    ],
)
def test_add_business_days(start: datetime, days: int, expected: datetime) -> None:
    assert add_business_days(start, days) == expected


def test_business_days_never_land_on_a_weekend() -> None:
    for offset in range(7):
        start = FRIDAY + timedelta(days=offset)
        for days in range(1, 15):
            assert add_business_days(start, days).weekday() < 5


def test_a_deadline_takes_exactly_one_unit() -> None:
    assert Deadline(business_days=7).due(FRIDAY) == add_business_days(FRIDAY, 7)
    with pytest.raises(ValueError, match="exactly one"):
        Deadline()
    with pytest.raises(ValueError, match="exactly one"):
        Deadline(days=1, hours=2)


# --- invalid policies -------------------------------------------------------------------------


def _write(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    raw = copy.deepcopy(RAW)
    mutate(raw)
    path = tmp_path / "broken-policy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _set(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        target = raw
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        target = raw
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


INVALID = {
    "unknown-signoff-level": (
        _set("action_types", "global-ban", "signoff", value=["case-handler", "janitor"]),
        "action_types.global-ban.signoff[1]",
        "unknown sign-off level 'janitor'",
    ),
    "routed-to-unknown-team": (
        _set("action_types", "dmca-takedown", "routed_to", value="marketing"),
        "action_types.dmca-takedown.routed_to",
        "unknown team 'marketing'",
    ),
    "deadline-with-two-units": (
        _set("action_types", "global-ban", "deadline", value={"days": 28, "hours": 4}),
        "action_types.global-ban.deadline",
        "exactly one of hours, days, business_days",
    ),
    "appealable-without-window": (
        _drop("action_types", "global-ban", "appeal_window_days"),
        "action_types.global-ban",
        "appeal_window_days: required when appealable is true",
    ),
    "unknown-top-level-key": (
        _set("escalation_matrix", value={"x": 1}),
        "escalation_matrix",
        "Extra inputs are not permitted",
    ),
    "duplicate-level-in-chain": (
        _set("action_types", "global-ban", "signoff", value=["case-handler", "case-handler"]),
        "action_types.global-ban",
        "a level may appear only once",
    ),
    "window-on-non-appealable": (
        _set("action_types", "conduct-warning", "appeal_window_days", value=30),
        "action_types.conduct-warning",
        "appeal_window_days: only allowed when appealable is true",
    ),
    "bad-team-id": (
        _set("teams", "Legal Team", value={"title": "Legal", "address": "l@x.test"}),
        "teams.Legal Team",
        "lower-case-with-hyphens",
    ),
}


@pytest.mark.parametrize(("mutate", "key", "rule"), list(INVALID.values()), ids=list(INVALID))
def test_invalid_policy_names_file_key_and_rule(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], key: str, rule: str
) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert str(path) in message
    assert key in message
    assert rule in message


# A section of one service: the kernel keeps it as a mapping, its service's rules_of
# refuses it while the service is wired (the runtime then names the file).
SERVICE_INVALID = {
    "intake-statutory-element-dropped": (
        _drop("intake", "dmca_elements", "signature"),
        "intake",
        "statutory elements missing: signature",
    ),
    "intake-routed-to-unknown-team": (
        _set("intake", "kinds", "inquiry", "routed_to", value="marketing"),
        "intake.kinds.inquiry.routed_to",
        "unknown team 'marketing'",
    ),
    "intake-unknown-key": (
        _set("intake", "escalation", value=1),
        "intake.escalation",
        "Extra inputs are not permitted",
    ),
    "enforcement-bad-protection-level": (
        _set("enforcement", "office_protection", value="Office Only"),
        "enforcement.office_protection",
        "String should match pattern",
    ),
    "monitor-unknown-action-type": (
        _set("monitor", "action_types", "no-such-action", value={"told_within_minutes": 1}),
        "monitor.action_types.no-such-action",
        "unknown action type",
    ),
    "monitor-zero-limit": (
        _set("monitor", "told_within_minutes", value=0),
        "monitor.told_within_minutes",
        "greater than 0",
    ),
}


@pytest.mark.parametrize(
    ("mutate", "key", "rule"), list(SERVICE_INVALID.values()), ids=list(SERVICE_INVALID)
)
def test_an_invalid_service_section_names_file_key_and_rule(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], key: str, rule: str
) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(PolicyError) as caught:
        load_checked(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: ")
    assert rule in message


def test_the_real_policy_file_validates_through_every_services_rules(policy: Policy) -> None:
    assert set(RULES_OF) == {"intake", "enforcement", "monitor"}
    assert isinstance(RULES_OF["intake"](policy), IntakeRules)
    assert isinstance(RULES_OF["enforcement"](policy), EnforcementRules)
    monitor = RULES_OF["monitor"](policy)
    assert isinstance(monitor, MonitorRules)
    # The file's own values, not the defaults: the section was read.
    assert monitor.action_types and set(monitor.action_types) <= set(policy.action_types)
    assert load_checked(POLICY_FILE) == policy


def test_a_bad_section_stops_only_the_service_that_owns_it(tmp_path: Path) -> None:
    path = _write(tmp_path, _set("monitor", "enforced_within_minutes", value=-1))
    policy = load_policy(path)  # the kernel takes the section as a mapping
    assert policy.section("monitor")["enforced_within_minutes"] == -1
    RULES_OF["intake"](policy)
    RULES_OF["enforcement"](policy)
    with pytest.raises(PolicyError, match=r"^monitor\.enforced_within_minutes: .*greater than 0"):
        RULES_OF["monitor"](policy)


def test_a_service_section_must_be_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, _set("enforcement", value=["sitewide_block"]))
    with pytest.raises(PolicyError, match="enforcement: Input should be a valid dictionary"):
        load_policy(path)


def test_a_service_section_left_out_is_its_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, _drop("enforcement"))
    policy = load_policy(path)
    assert dict(policy.section("enforcement")) == {}
    assert RULES_OF["enforcement"](policy) == EnforcementRules()


def test_only_one_services_sections_are_read_raw(policy: Policy) -> None:
    with pytest.raises(KeyError, match="review"):
        policy.section("review")
    section = policy.section("intake")
    with pytest.raises(TypeError):
        section["kinds"] = {}  # type: ignore[index]


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: [unclosed\nteams: {\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML") as caught:
        load_policy(path)
    assert str(path) in str(caught.value)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="top level must be a mapping") as caught:
        load_policy(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "policy.yaml"
    with pytest.raises(PolicyError, match="cannot read") as caught:
        load_policy(path)
    assert str(path) in str(caught.value)


# --- translations of the policy's own strings -------------------------------------------------


def test_the_real_policy_speaks_english_and_russian(policy: Policy) -> None:
    assert policy.languages == ["en", "ru"]
    assert policy.text("en", "action_types", "global-ban") == "Global ban"
    assert policy.text("ru", "action_types", "global-ban") == "Глобальный бан"
    assert policy.text("ru-RU", "signoff_levels", "director") == "Директор"
    ru = policy.text("ru", "clauses", "ucoc-3-1", "source")
    assert ru == "Универсальный кодекс поведения"
    assert policy.text("ru", "refusals", "no-grounds") != policy.text(
        "en", "refusals", "no-grounds"
    )
    # A language the policy does not declare reads the English, as its outputs' templates do.
    assert policy.text("fi", "clauses", "ucoc-3-1", "text") == policy.clauses.items["ucoc-3-1"].text


def test_the_standard_refusals_are_the_texts_the_contract_and_notify_write() -> None:
    assert NO_GROUNDS == REFUSALS["no-grounds"]
    defaults = {r.grounds for r in DisclosurePlan().answers.values()}
    assert defaults == {REFUSALS["no-disclosure-decision"]}
    assert set(DisclosurePlan().answers) == set(Question)


def _german(raw: dict[str, Any]) -> None:
    """Adds de with every key (the Russian key set, German-looking values)."""
    raw["languages"] = ["en", "ru", "de"]
    german = copy.deepcopy(raw["translations"]["ru"])
    for group in ("action_types", "signoff_levels", "clauses"):
        for entry in german[group].values():
            for field in entry:
                entry[field] = f"de: {entry[field]}"
    german["refusals"] = {k: f"de: {v}" for k, v in german["refusals"].items()}
    german["action_types"]["global-ban"]["title"] = "Globale Sperre"
    raw["translations"]["de"] = german


def test_a_language_is_added_by_data_alone(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, _german))
    assert policy.text("de", "action_types", "global-ban") == "Globale Sperre"
    assert policy.text("de-AT", "refusals", "no-grounds").startswith("de: ")


def _without(*keys: str) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        _german(raw)
        _drop("translations", "de", *keys)(raw)

    return mutate


def _with_unknown_clause(raw: dict[str, Any]) -> None:
    _german(raw)
    raw["translations"]["de"]["clauses"]["tou-9"] = {"source": "x", "section": "x", "text": "x"}


MISSING_TRANSLATIONS = {
    "clause-text": (
        _without("clauses", "ucoc-3-1", "text"),
        "translations.de.clauses.ucoc-3-1.text: missing (every clause needs a de translation)",
    ),
    "clause": (
        _without("clauses", "tou-4-privacy"),
        "translations.de.clauses.tou-4-privacy.source: missing",
    ),
    "action-title": (
        _without("action_types", "event-ban"),
        "translations.de.action_types.event-ban.title: missing (every action type needs a de",
    ),
    "level-title": (
        _without("signoff_levels", "director", "title"),
        "translations.de.signoff_levels.director.title: missing",
    ),
    "refusal": (
        _without("refusals", "no-disclosure-decision"),
        "translations.de.refusals.no-disclosure-decision: missing (every refusal needs a de",
    ),
    "whole-language": (
        _without(),
        "translations.de.action_types.global-ban.title: missing",
    ),
    "unknown-clause": (
        _with_unknown_clause,
        "translations.de.clauses.tou-9: unknown clause 'tou-9'",
    ),
    "undeclared-language": (
        _set("translations", "fr", value={}),
        "translations.fr: not a language to translate into",
    ),
    "english-left-out": (
        _set("languages", value=["ru"]),
        "languages: must include 'en'",
    ),
}


@pytest.mark.parametrize(
    ("mutate", "message"), list(MISSING_TRANSLATIONS.values()), ids=list(MISSING_TRANSLATIONS)
)
def test_a_missing_or_unknown_translation_stops_the_policy_naming_key_and_language(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
