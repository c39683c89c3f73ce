"""Events made from the contract's examples (tests/test_contract.py), with some fields changed."""

from __future__ import annotations

from typing import Any

from casework.contract import EventData
from tests.test_contract import EXAMPLES


def like(name: str, **changes: Any) -> EventData:
    """The example event of type ``name`` with ``changes``, validated again."""
    example = EXAMPLES[name]
    return example.model_validate({**example.model_dump(), **changes})
