"""The compatibility checker on synthetic models: it catches each kind of break, and only breaks."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, create_model

from casework.contract import EVENT_TYPES
from casework.contract.compat import (
    ADDED_CONSTRAINT,
    ADDED_UNION_MEMBER,
    CHANGED_TYPE,
    FIELD_MADE_OPTIONAL,
    LOOSENED_CONSTRAINT,
    NARROWED_ENUM,
    NEW_REQUIRED_FIELD,
    REMOVED_FIELD,
    REMOVED_UNION_MEMBER,
    WIDENED_ENUM,
    Break,
    breaks,
)


def _schema(**fields: Any) -> dict[str, Any]:
    """The validation schema of a model named Event with these fields (name=(type, default))."""
    model = create_model("Event", __config__=ConfigDict(extra="ignore"), **fields)
    return model.model_json_schema(mode="validation")


def _nested(**fields: Any) -> type[BaseModel]:
    return create_model("Item", __config__=ConfigDict(extra="ignore"), **fields)


def _found(frozen: dict[str, Any], current: dict[str, Any]) -> set[tuple[str, str]]:
    return {(b.path, b.kind) for b in breaks(frozen, current)}


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class FewerColours(StrEnum):
    RED = "red"


class MoreColours(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


BASE = {"case_id": (str, ...), "note": (str | None, None)}


@pytest.mark.parametrize(
    "current",
    [
        pytest.param(BASE, id="unchanged"),
        pytest.param({**BASE, "added": (int | None, None)}, id="optional-field-added"),
        pytest.param({**BASE, "added": (list[str], [])}, id="field-with-default-added"),
        pytest.param(
            {**BASE, "case_id": (Annotated[str, Field(description="Now described.")], ...)},
            id="description-added",
        ),
        pytest.param({**BASE, "note": (str | None, "other default")}, id="default-changed"),
    ],
)
def test_compatible_changes_pass(current: dict[str, Any]) -> None:
    assert breaks(_schema(**BASE), _schema(**current)) == []


@pytest.mark.parametrize(
    ("frozen", "current", "expected"),
    [
        pytest.param(
            BASE, {"note": BASE["note"]}, {("case_id", REMOVED_FIELD)}, id="removed-required"
        ),
        pytest.param(
            BASE, {"case_id": BASE["case_id"]}, {("note", REMOVED_FIELD)}, id="removed-optional"
        ),
        pytest.param(
            BASE,
            {**BASE, "wiki": (str, ...)},
            {("wiki", NEW_REQUIRED_FIELD)},
            id="new-required-field",
        ),
        pytest.param(
            BASE,
            {**BASE, "note": (str, ...)},
            {("note", NEW_REQUIRED_FIELD), ("note", REMOVED_UNION_MEMBER)},
            id="optional-made-required",
        ),
        pytest.param(
            BASE,
            {**BASE, "case_id": (str | None, None)},
            {("case_id", FIELD_MADE_OPTIONAL), ("case_id", ADDED_UNION_MEMBER)},
            id="required-made-optional",
        ),
        pytest.param(
            BASE, {**BASE, "case_id": (int, ...)}, {("case_id", CHANGED_TYPE)}, id="changed-type"
        ),
        pytest.param(
            {"n": (int, ...)}, {"n": (float, ...)}, {("n", CHANGED_TYPE)}, id="int-to-float"
        ),
        pytest.param(
            {"n": (float, ...)}, {"n": (int, ...)}, {("n", CHANGED_TYPE)}, id="float-to-int"
        ),
        pytest.param(
            {"c": (Colour, ...)}, {"c": (FewerColours, ...)}, {("c", NARROWED_ENUM)}, id="enum"
        ),
        pytest.param(
            {"c": (Colour, ...)}, {"c": (MoreColours, ...)}, {("c", WIDENED_ENUM)}, id="enum-wide"
        ),
        pytest.param(
            {"c": (Colour | None, None)},
            {"c": (FewerColours | None, None)},
            {("c", NARROWED_ENUM)},
            id="optional-enum",
        ),
        pytest.param(
            {"c": (Literal["a", "b"], ...)},
            {"c": (Literal["a"], ...)},
            {("c", NARROWED_ENUM)},
            id="literal",
        ),
        pytest.param(
            {"c": (str, ...)}, {"c": (Colour, ...)}, {("c", ADDED_CONSTRAINT)}, id="enum-on-str"
        ),
        pytest.param(
            {"v": (str | int, ...)},
            {"v": (str, ...)},
            {("v", REMOVED_UNION_MEMBER)},
            id="removed-union-member",
        ),
        pytest.param(
            {"v": (str, ...)},
            {"v": (str | int, ...)},
            {("v", ADDED_UNION_MEMBER)},
            id="added-union-member",
        ),
        pytest.param(
            {"s": (str, ...)},
            {"s": (Annotated[str, Field(max_length=10)], ...)},
            {("s", ADDED_CONSTRAINT)},
            id="max-length-added",
        ),
        pytest.param(
            {"s": (Annotated[str, Field(min_length=1)], ...)},
            {"s": (Annotated[str, Field(min_length=2)], ...)},
            {("s", ADDED_CONSTRAINT)},
            id="min-length-raised",
        ),
        pytest.param(
            {"s": (str, ...)},
            {"s": (Annotated[str, Field(pattern=r"^a")], ...)},
            {("s", ADDED_CONSTRAINT)},
            id="pattern-added",
        ),
        pytest.param(
            {"s": (Annotated[str, Field(max_length=10)], ...)},
            {"s": (Annotated[str, Field(max_length=20)], ...)},
            {("s", LOOSENED_CONSTRAINT)},
            id="max-length-raised",
        ),
        pytest.param(
            {"xs": (list[str], ...)},
            {"xs": (Annotated[list[str], Field(min_length=1)], ...)},
            {("xs", ADDED_CONSTRAINT)},
            id="min-items-added",
        ),
        pytest.param(
            {"xs": (list[str], ...)}, {"xs": (list[int], ...)}, {("xs[]", CHANGED_TYPE)}, id="items"
        ),
        pytest.param(
            {"m": (dict[str, int], ...)},
            {"m": (dict[str, str], ...)},
            {("m{}", CHANGED_TYPE)},
            id="map-values",
        ),
        pytest.param(
            {"m": (dict[str, int], ...)},
            {"m": (dict[Colour, int], ...)},
            {("m{}", ADDED_CONSTRAINT)},
            id="map-keys",
        ),
    ],
)
def test_each_kind_of_break_is_caught(
    frozen: dict[str, Any], current: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    assert _found(_schema(**frozen), _schema(**current)) == expected


def test_refusing_unknown_fields_is_an_added_constraint() -> None:
    strict = create_model("Event", __config__=ConfigDict(extra="forbid"), **BASE)
    found = _found(_schema(**BASE), strict.model_json_schema(mode="validation"))
    assert found == {("{}", ADDED_CONSTRAINT)}


def test_breaks_inside_nested_models_name_the_field_path() -> None:
    item = _nested(name=(str, ...), size=(int, ...))
    frozen = _schema(items=(list[item], ...), main=(item | None, None))  # type: ignore[valid-type]
    changed = _nested(name=(int, ...), colour=(Colour, ...))
    current = _schema(items=(list[changed], ...), main=(changed | None, None))  # type: ignore[valid-type]
    assert _found(frozen, current) == {
        ("items[].name", CHANGED_TYPE),
        ("items[].size", REMOVED_FIELD),
        ("items[].colour", NEW_REQUIRED_FIELD),
        ("main.name", CHANGED_TYPE),
        ("main.size", REMOVED_FIELD),
        ("main.colour", NEW_REQUIRED_FIELD),
    }


def test_a_nested_optional_field_added_passes() -> None:
    item = _nested(name=(str, ...))
    grown = _nested(name=(str, ...), extra=(str | None, None))
    assert breaks(_schema(item=(item, ...)), _schema(item=(grown, ...))) == []


class Node(BaseModel):
    label: str
    children: list[Node] = []


class NarrowerNode(BaseModel):
    label: Annotated[str, Field(max_length=5)]
    children: list[NarrowerNode] = []


def test_recursive_models_are_compared_without_looping() -> None:
    frozen = _schema(tree=(Node, ...))
    assert breaks(frozen, frozen) == []
    found = _found(frozen, _schema(tree=(NarrowerNode, ...)))
    assert ("tree.label", ADDED_CONSTRAINT) in found


def test_a_break_reads_as_path_kind_and_detail() -> None:
    (found,) = breaks(_schema(**BASE), _schema(**{**BASE, "case_id": (int, ...)}))
    assert found == Break("case_id", CHANGED_TYPE, "was string, now integer")
    assert str(found) == "case_id: changed type: was string, now integer"


@pytest.mark.parametrize("model", list(EVENT_TYPES.values()), ids=lambda m: m.TYPE)
def test_every_contract_schema_is_compatible_with_itself(model: type[BaseModel]) -> None:
    schema = model.model_json_schema(mode="validation")
    assert breaks(schema, schema) == []
