"""Constrained strings for people's free text: notes, comments, reasons, rationales.

`SafeText` admits what a person types into a text area: any printable character, tabs
and line breaks (\\t, \\n, \\r). It refuses NUL and every other control character (C0,
DEL, C1), which hide text from readers, break e-mail headers and log lines, and are
stored by some databases and cut off by others. `SafeLine` is the same for one line
(names, titles): no line breaks or tabs either. Both are plain `str` after validation;
a refusal names the rule `control_characters` and the first offending position. The
OpenAPI schema carries the matching `pattern`.

With length bounds, put the bounds first so their errors keep pydantic's usual rules
(`string_too_short`, `string_too_long`)::

    comment: Annotated[str, Field(min_length=1, max_length=10_000), NO_CONTROL]

(``Annotated[SafeText, Field(max_length=…)]`` works too, with plainer length messages.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# C0 controls except TAB, LF, CR; DEL; C1 controls.
_TEXT_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f]")
TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
LINE_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
RULE = "control_characters"


def control_character_at(value: str, *, multiline: bool = True) -> int | None:
    """The index of the first character `SafeText` (or `SafeLine`) refuses, if any."""
    found = (_TEXT_FORBIDDEN if multiline else _LINE_FORBIDDEN).search(value)
    return None if found is None else found.start()


@dataclass(frozen=True)
class NoControlCharacters:
    """Annotated metadata: refuse control characters (tabs and line breaks allowed when
    ``multiline``), and document the rule as a pattern in the JSON Schema."""

    multiline: bool = True

    def check(self, value: str) -> str:
        at = control_character_at(value, multiline=self.multiline)
        if at is not None:
            allowed = "tabs and line breaks but no other" if self.multiline else "no"
            raise PydanticCustomError(
                RULE,
                "control character U+{code} at position {at}: this text may hold "
                + allowed
                + " control characters",
                {"code": f"{ord(value[at]):04X}", "at": at},
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out: dict[str, Any] = handler(schema)
        out["pattern"] = TEXT_PATTERN if self.multiline else LINE_PATTERN
        return out


NO_CONTROL = NoControlCharacters(multiline=True)
ONE_LINE = NoControlCharacters(multiline=False)
SafeText = Annotated[str, NO_CONTROL]
SafeLine = Annotated[str, ONE_LINE]
