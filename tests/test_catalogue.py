"""The contract as versioned data: frozen schemas, example files, the catalogue and the README's
events table, all kept in step by `make catalogue` and checked by `make lint`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from casework.catalogue import (
    CATALOGUE_PATH,
    README_PATH,
    TABLE_END,
    TABLE_START,
    Places,
    build_catalogue,
    check,
    events_table,
    main,
    with_events_table,
    write,
)
from casework.contract import (
    EVENT_TYPES,
    PUBLIC_TOPIC,
    SERVICES,
    AwareDatetime,
    EventData,
    topic_for,
    topic_of,
)
from casework.contract.frozen import (
    EXAMPLES_DIR,
    SCHEMAS_DIR,
    examples_of,
    freeze_new,
    load_json,
    problems,
    render_json,
    schema_path,
)

# --- the repository's contract ---------------------------------------------------------------


def test_the_contract_keeps_its_frozen_schemas_and_examples() -> None:
    found = problems(EVENT_TYPES.values())
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_type_has_a_frozen_schema_and_an_example(event_type: str) -> None:
    assert schema_path(event_type).is_file()
    assert examples_of(event_type)


def test_the_readme_events_table_matches_the_contract() -> None:
    readme = README_PATH.read_text(encoding="utf-8")
    assert with_events_table(readme) == readme, (
        "the README's events table drifted from casework/contract: run make catalogue"
    )


def test_the_events_table_names_every_type_on_its_topic() -> None:
    rows = {row.split(" | ")[0].strip("| `"): row for row in events_table().splitlines()}
    for service in SERVICES:
        assert topic_of(service) in rows, service
    assert PUBLIC_TOPIC in rows
    for model in EVENT_TYPES.values():
        row = rows[topic_for(model)]
        short = model.TYPE.removeprefix(topic_of(model.PRODUCER) + ".")
        assert f"`{model.TYPE}`" in row or f"`…{short}`" in row, model.TYPE
    for late in (
        "submission-incomplete.v1",
        "correspondence-received.v1",
        "notification-failed.v1",
        "alert-raised.v1",
        "dead-letter-replayed.v1",
    ):
        assert late in events_table()


def test_the_catalogue_examples_are_the_example_files() -> None:
    messages = build_catalogue()["components"]["messages"]
    for model in EVENT_TYPES.values():
        shown = {e["name"]: e["payload"] for e in messages[model.__name__]["examples"]}
        assert shown == examples_of(model.TYPE)
    on_disk = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
    assert on_disk["components"]["messages"] == messages


def test_check_passes_on_the_repository() -> None:
    assert check() == []
    assert main(["--check"]) == 0


# --- synthetic event types in a scratch contract ---------------------------------------------


class Opened(EventData):
    TYPE: ClassVar[str] = "officeactions.review.thing-opened.v1"
    PRODUCER: ClassVar[str] = "review"

    case_id: str
    opened_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class OpenedWithNote(Opened):
    """The same type with an optional field added: compatible."""

    note: str | None = None


class OpenedWithWiki(Opened):
    """The same type with a new required field: a break."""

    wiki: str


class OpenedAsNumber(EventData):
    """The same type with a field removed and a type changed: breaks."""

    TYPE: ClassVar[str] = Opened.TYPE
    PRODUCER: ClassVar[str] = "review"

    case_id: int

    def event_subject(self) -> str:
        return str(self.case_id)


EXAMPLE = {"case_id": "OA-1", "opened_at": "2026-11-20T09:15:00Z"}


@pytest.fixture
def scratch(tmp_path: Path) -> tuple[Path, Path]:
    """Empty schema and example folders, with one example of Opened."""
    schemas, examples = tmp_path / "schemas", tmp_path / "examples"
    (examples / Opened.TYPE).mkdir(parents=True)
    (examples / Opened.TYPE / "typical.json").write_text(render_json(EXAMPLE), encoding="utf-8")
    return schemas, examples


def test_freezing_writes_new_types_only_and_never_rewrites(scratch: tuple[Path, Path]) -> None:
    schemas, _ = scratch
    assert freeze_new([Opened], schemas) == [schema_path(Opened.TYPE, schemas)]
    frozen = schema_path(Opened.TYPE, schemas).read_text(encoding="utf-8")
    assert load_json(schema_path(Opened.TYPE, schemas))["required"] == ["case_id", "opened_at"]
    assert freeze_new([OpenedWithWiki], schemas) == []
    assert schema_path(Opened.TYPE, schemas).read_text(encoding="utf-8") == frozen


def test_a_compatible_change_passes(scratch: tuple[Path, Path]) -> None:
    schemas, examples = scratch
    freeze_new([Opened], schemas)
    assert problems([OpenedWithNote], schemas, examples) == []


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        (OpenedWithWiki, ["wiki: new required field"]),
        (OpenedAsNumber, ["opened_at: removed field", "case_id: changed type"]),
    ],
)
def test_a_breaking_change_fails_and_asks_for_a_new_version(
    scratch: tuple[Path, Path], changed: type[EventData], named: list[str]
) -> None:
    schemas, examples = scratch
    freeze_new([Opened], schemas)
    found = "\n".join(problems([changed], schemas, examples))
    assert "no longer compatible with its frozen schema" in found
    assert "make a new version (officeactions.review.thing-opened.v2)" in found
    for words in named:
        assert words in found


def test_examples_must_read_under_the_frozen_schema_and_the_model(
    scratch: tuple[Path, Path],
) -> None:
    schemas, examples = scratch
    freeze_new([Opened], schemas)
    folder = examples / Opened.TYPE
    (folder / "no-case.json").write_text(render_json({"opened_at": EXAMPLE["opened_at"]}))
    (folder / "naive-time.json").write_text(render_json({**EXAMPLE, "opened_at": "2026-11-20"}))
    found = problems([Opened], schemas, examples)
    assert any("'no-case' does not match the frozen schema" in p for p in found), found
    assert any("'no-case' does not read as Opened" in p for p in found), found
    assert any("'naive-time' does not read as Opened" in p for p in found), found
    assert not any("'typical'" in p for p in found), found


def test_a_type_without_schema_or_example_and_an_orphan_schema_are_reported(
    scratch: tuple[Path, Path],
) -> None:
    schemas, examples = scratch
    shutil.rmtree(examples / Opened.TYPE)
    found = problems([Opened], schemas, examples)
    assert found == [
        f"{Opened.TYPE}: no frozen schema at {schema_path(Opened.TYPE, schemas)}; "
        "run make catalogue"
    ]
    freeze_new([Opened], schemas)
    assert problems([Opened], schemas, examples) == [
        f"{Opened.TYPE}: no example in {examples / Opened.TYPE}/<name>.json"
    ]
    assert any("no longer has" in p for p in problems([], schemas, examples))


# --- make catalogue and its check on copies of the repository's files -------------------------


@pytest.fixture
def copies(tmp_path: Path) -> Places:
    places = Places(
        catalogue=tmp_path / "asyncapi.yaml",
        readme=tmp_path / "README.md",
        schemas=tmp_path / "schemas",
        examples=tmp_path / "examples",
    )
    shutil.copy(CATALOGUE_PATH, places.catalogue)
    shutil.copy(README_PATH, places.readme)
    shutil.copytree(SCHEMAS_DIR, places.schemas)
    shutil.copytree(EXAMPLES_DIR, places.examples)
    return places


def test_make_catalogue_rewrites_a_drifted_table_and_refreezes_a_missing_schema(
    copies: Places,
) -> None:
    readme = copies.readme.read_text(encoding="utf-8")
    drifted = readme.replace("`…notification-failed.v1`, ", "")
    assert drifted != readme
    copies.readme.write_text(drifted, encoding="utf-8")
    missing = schema_path("officeactions.notify.notification-failed.v1", copies.schemas)
    kept = missing.read_text(encoding="utf-8")
    missing.unlink()
    found = check(copies)
    assert f"{copies.readme} is out of date: run make catalogue" in found
    assert any("notification-failed.v1: no frozen schema" in p for p in found), found
    assert write(copies) == []
    assert check(copies) == []
    assert copies.readme.read_text(encoding="utf-8") == readme
    assert missing.read_text(encoding="utf-8") == kept


def test_a_stale_catalogue_is_reported(copies: Places) -> None:
    text = copies.catalogue.read_text(encoding="utf-8")
    copies.catalogue.write_text(text.replace("name: typical", "name: old", 1), encoding="utf-8")
    assert check(copies) == [f"{copies.catalogue} is out of date: run make catalogue"]


def test_a_readme_without_markers_is_an_error() -> None:
    with pytest.raises(ValueError, match="no events table markers"):
        with_events_table("# Readme\n")
    table = with_events_table(f"x\n{TABLE_START}\nold\n{TABLE_END}\ny\n")
    assert table == f"x\n{TABLE_START}\n{events_table()}\n{TABLE_END}\ny\n"
