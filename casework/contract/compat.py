"""Whether an event type's current JSON Schema is still compatible with its frozen one.

Readers validate strictly except that unknown fields are ignored, so a change keeps a
version only when both hold:
- backward: the current model reads every event the frozen schema allowed (events
  stored in outboxes and ledgers, parked as dead letters, or still in flight);
- forward: a reader still on the frozen schema reads every event the current model may
  write, unknown fields aside.
Adding an optional field is the one structural change that passes both. Anything else is
a break, and the fix is a new version of the type (`.v2`) next to the frozen one.

Works on the JSON Schema that pydantic emits: `$ref`/`$defs`, `type`, `anyOf`/`oneOf`/
`allOf`, `enum`/`const`, `properties`/`required`/`additionalProperties`/`propertyNames`,
`items`/`prefixItems` and the usual value constraints. Checks done by python validators
(AfterValidator, model validators) are not in a schema and so are not compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

REMOVED_FIELD = "removed field"
NEW_REQUIRED_FIELD = "new required field"
CHANGED_TYPE = "changed type"
NARROWED_ENUM = "narrowed enum"
REMOVED_UNION_MEMBER = "removed union member"
ADDED_CONSTRAINT = "added constraint"
# The same findings seen from an old reader: the current model writes what it rejects.
FIELD_MADE_OPTIONAL = "field made optional"
WIDENED_ENUM = "widened enum"
ADDED_UNION_MEMBER = "added union member"
LOOSENED_CONSTRAINT = "loosened constraint"
_AS_SEEN_BY_OLD_READERS = {
    NEW_REQUIRED_FIELD: FIELD_MADE_OPTIONAL,
    NARROWED_ENUM: WIDENED_ENUM,
    REMOVED_UNION_MEMBER: ADDED_UNION_MEMBER,
    ADDED_CONSTRAINT: LOOSENED_CONSTRAINT,
}

_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}
)
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_EXACT = ("pattern", "format", "multipleOf")
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    type(None): "null",
    list: "array",
    dict: "object",
}


@dataclass(frozen=True)
class Break:
    """One incompatibility: where (a dotted field path; `[]` an array's items), what, detail."""

    path: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path or '(the event)'}: {self.kind}: {self.detail}"


def breaks(frozen: Schema, current: Schema) -> list[Break]:
    """Every way `current` is not compatible with `frozen`; empty when it is."""
    found = [
        *_Reading(accepting=frozen, reading=current, backward=True).run(),
        *_Reading(accepting=current, reading=frozen, backward=False).run(),
    ]
    unique: dict[tuple[str, str], Break] = {}
    for item in found:
        unique.setdefault((item.path, item.kind), item)
    return list(unique.values())


class _Reading:
    """Finds the values `accepting` allows that `reading` rejects."""

    def __init__(self, accepting: Schema, reading: Schema, *, backward: bool) -> None:
        self._defs = (accepting.get("$defs", {}), reading.get("$defs", {}))
        self._root = (accepting, reading)
        self._backward = backward
        self._open: set[tuple[str, str]] = set()

    def run(self) -> list[Break]:
        return list(self._node(*self._root, ""))

    def _break(self, path: str, kind: str, detail: str) -> Break:
        if not self._backward:
            kind = _AS_SEEN_BY_OLD_READERS.get(kind, kind)
        return Break(path, kind, detail)

    def _refused(self, what: str) -> str:
        return f"{what} no longer read" if self._backward else f"old readers refuse {what}"

    def _node(self, acc: Schema, rd: Schema, path: str) -> Iterator[Break]:
        pair = (acc.get("$ref", ""), rd.get("$ref", ""))
        guarded = bool(pair[0] and pair[1])
        if guarded:
            if pair in self._open:  # a recursive model: this pair is being compared already
                return
            self._open.add(pair)
        try:
            acc, rd = _plain(acc, self._defs[0]), _plain(rd, self._defs[1])
            if _members(acc):
                yield from self._accepting_union(acc, rd, path)
            elif _members(rd):
                yield from self._reading_union(acc, rd, path)
            else:
                yield from self._single(acc, rd, path)
        finally:
            if guarded:
                self._open.discard(pair)

    def _accepting_union(self, acc: Schema, rd: Schema, path: str) -> Iterator[Break]:
        """Each member of a union the accepting side allows must still be read."""
        for member in _members(acc):
            found = list(self._node(member, rd, path))
            if any(b.kind == CHANGED_TYPE and b.path == path for b in found):
                detail = self._refused(_describe(_plain(member, self._defs[0])))
                yield self._break(path, REMOVED_UNION_MEMBER, detail)
            else:
                yield from found

    def _reading_union(self, acc: Schema, rd: Schema, path: str) -> Iterator[Break]:
        """A single shape must be read by one member of the reading side's union."""
        tried = [list(self._node(acc, member, path)) for member in _members(rd)]
        if any(not found for found in tried):
            return
        same_type = [
            found
            for member, found in zip(_members(rd), tried, strict=True)
            if _types(acc) & _types(_plain(member, self._defs[1]))
        ]
        if len(same_type) == 1:
            yield from same_type[0]
        else:
            yield self._break(path, CHANGED_TYPE, self._refused(_describe(acc)))

    def _single(self, acc: Schema, rd: Schema, path: str) -> Iterator[Break]:
        acc_types, rd_types = _types(acc), _types(rd)
        if rd_types and (not acc_types or not _within(acc_types, rd_types)):
            detail = f"was {_describe(acc)}, now {_describe(rd)}"
            if not self._backward:
                detail = f"old readers take {_describe(rd)}, it now allows {_describe(acc)}"
            yield self._break(path, CHANGED_TYPE, detail)
            return
        yield from self._values(acc, rd, path)
        yield from self._constraints(acc, rd, path)
        if "array" in acc_types or "items" in acc or "items" in rd:
            yield from self._items(acc, rd, path)
        if "object" in acc_types or "properties" in acc or "properties" in rd:
            yield from self._object(acc, rd, path)

    def _values(self, acc: Schema, rd: Schema, path: str) -> Iterator[Break]:
        rd_values = _values(rd)
        if rd_values is None:
            return
        acc_values = _values(acc)
        if acc_values is None:
            yield self._break(path, ADDED_CONSTRAINT, f"only {sorted(map(str, rd_values))}")
            return
        lost = [v for v in acc_values if v not in rd_values]
        if lost:
            yield self._break(path, NARROWED_ENUM, self._refused(str(lost)))

    def _constraints(self, acc: Schema, rd: Schema, path: str) -> Iterator[Break]:
        for name in _LOWER_BOUNDS:
            if name in rd and (name not in acc or rd[name] > acc[name]):
                yield self._break(path, ADDED_CONSTRAINT, f"{name} {acc.get(name)} -> {rd[name]}")
        for name in _UPPER_BOUNDS:
            if name in rd and (name not in acc or rd[name] < acc[name]):
                yield self._break(path, ADDED_CONSTRAINT, f"{name} {acc.get(name)} -> {rd[name]}")
        for name in _EXACT:
            if name in rd and acc.get(name) != rd[name]:
                yield self._break(
                    path, ADDED_CONSTRAINT, f"{name} {acc.get(name)!r} -> {rd[name]!r}"
                )
        if rd.get("uniqueItems") and not acc.get("uniqueItems"):
            yield self._break(path, ADDED_CONSTRAINT, "uniqueItems")

    def _items(self, acc: Schema, rd: Schema, path: str) -> Iterator[Break]:
        acc_prefix, rd_prefix = acc.get("prefixItems", []), rd.get("prefixItems", [])
        for index, rd_item in enumerate(rd_prefix):
            acc_item = acc_prefix[index] if index < len(acc_prefix) else acc.get("items", {})
            yield from self._node(acc_item, rd_item, f"{path}[{index}]")
        if "items" in rd:
            yield from self._node(acc.get("items", {}), rd["items"], f"{path}[]")

    def _object(self, acc: Schema, rd: Schema, path: str) -> Iterator[Break]:
        acc_props, rd_props = acc.get("properties", {}), rd.get("properties", {})
        acc_required, rd_required = set(acc.get("required", [])), set(rd.get("required", []))
        for name, rd_prop in rd_props.items():
            field = f"{path}.{name}" if path else name
            if name in acc_props:
                yield from self._node(acc_props[name], rd_prop, field)
            elif not self._backward:
                yield Break(field, REMOVED_FIELD, "old readers may need it")
        for name in sorted(rd_required - acc_required):
            field = f"{path}.{name}" if path else name
            if self._backward or name in acc_props:
                yield self._break(field, NEW_REQUIRED_FIELD, self._refused("events without it"))
        for keyword in ("additionalProperties", "propertyNames"):
            yield from self._open_part(acc, rd, keyword, f"{path}{{}}")

    def _open_part(self, acc: Schema, rd: Schema, keyword: str, path: str) -> Iterator[Break]:
        """Map values (`additionalProperties`) and keys (`propertyNames`)."""
        rd_part = rd.get(keyword, True)
        if rd_part is True:
            return
        acc_part = acc.get(keyword, True)
        if rd_part is False or acc_part is True:
            if acc_part is not False:
                yield self._break(path, ADDED_CONSTRAINT, f"{keyword} restricted")
            return
        if acc_part is not False:
            yield from self._node(acc_part, rd_part, path)


def _plain(node: Schema, defs: dict[str, Schema]) -> Schema:
    """The node with its `$ref` and single-member `allOf` inlined and annotations dropped."""
    node = dict(node)
    while "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    while len(node.get("allOf", [])) == 1:
        (only,) = node.pop("allOf")
        node = {**_plain(only, defs), **node}
    return {k: v for k, v in node.items() if k not in _ANNOTATIONS and k != "$defs"}


def _members(node: Schema) -> list[Schema]:
    """The members of a union, each carrying the constraints written beside it."""
    union = node.get("anyOf") or node.get("oneOf") or []
    beside = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf", "discriminator")}
    return [{**beside, **member} for member in union]


def _values(node: Schema) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    if "enum" in node:
        return list(node["enum"])
    return None


def _types(node: Schema) -> set[str]:
    declared = node.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    values = _values(node)
    if values is not None:
        return {_JSON_TYPES.get(type(v), "string") for v in values}
    return set()


def _within(types: set[str], allowed: set[str]) -> bool:
    return all(t in allowed or (t == "integer" and "number" in allowed) for t in types)


def _describe(node: Schema) -> str:
    values = _values(node)
    if values is not None:
        return f"one of {values}"
    types = _types(node)
    return " or ".join(sorted(types)) if types else "any value"
