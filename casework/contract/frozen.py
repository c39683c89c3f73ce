"""The contract as versioned data: one frozen JSON Schema per event type, and example events.

`schemas/<type>.json` is the schema of a type as it was when first published; it is
written once (`make catalogue` writes only the missing ones) and never rewritten. The
current model must stay compatible with it (casework.contract.compat); a change that is
not is a new version of the type. `examples/<type>/<name>.json` are event data that must
read under both the frozen schema and the current model; the catalogue shows them.
A tool of `make catalogue`, `make lint` and the tests (jsonschema is a dev dependency):
the services never import it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import ValidationError

from casework.contract.common import EventData
from casework.contract.compat import breaks

HERE = Path(__file__).resolve().parent
SCHEMAS_DIR = HERE / "schemas"
EXAMPLES_DIR = HERE / "examples"


def current_schema(model: type[EventData]) -> dict[str, Any]:
    """What the model reads today, as JSON Schema."""
    return model.model_json_schema(mode="validation")


def schema_path(event_type: str, schemas: Path = SCHEMAS_DIR) -> Path:
    return schemas / f"{event_type}.json"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def render_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def freeze_new(models: Iterable[type[EventData]], schemas: Path = SCHEMAS_DIR) -> list[Path]:
    """Write the schema of each type that has none yet; never touch an existing one."""
    written = []
    for model in models:
        path = schema_path(model.TYPE, schemas)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_json(current_schema(model)), encoding="utf-8")
            written.append(path)
    return written


def examples_of(event_type: str, examples: Path = EXAMPLES_DIR) -> dict[str, Any]:
    """The example events of a type by name (the file name without `.json`)."""
    folder = examples / event_type
    return {path.stem: load_json(path) for path in sorted(folder.glob("*.json"))}


def problems(
    models: Iterable[type[EventData]],
    schemas: Path = SCHEMAS_DIR,
    examples: Path = EXAMPLES_DIR,
) -> list[str]:
    """Everything that keeps the contract from matching its frozen schemas and examples."""
    models = list(models)
    found: list[str] = []
    for model in models:
        path = schema_path(model.TYPE, schemas)
        if not path.exists():
            found.append(f"{model.TYPE}: no frozen schema at {path}; run make catalogue")
            continue
        found.extend(_breaks_of(model, path))
        found.extend(_example_problems(model, load_json(path), examples))
    known = {model.TYPE for model in models}
    for path in sorted(schemas.glob("*.json")):
        if path.stem not in known:
            found.append(
                f"{path}: frozen schema of a type the contract no longer has; "
                "retiring a version is deliberate: delete the file (and its examples) by hand"
            )
    return found


def _breaks_of(model: type[EventData], path: Path) -> list[str]:
    found = breaks(load_json(path), current_schema(model))
    if not found:
        return []
    listed = "".join(f"\n  - {item}" for item in found)
    return [
        f"{model.TYPE} ({model.__name__}) is no longer compatible with its frozen schema "
        f"{path}:{listed}\n"
        f"  Keep {model.__name__} as frozen and make a new version ({_next_version(model.TYPE)}): "
        "a new model with its own TYPE, published next to the old one while readers move."
    ]


def _next_version(event_type: str) -> str:
    stem, _, version = event_type.rpartition(".v")
    return f"{stem}.v{int(version) + 1}" if version.isdigit() else f"{event_type}.v2"


def _example_problems(model: type[EventData], schema: dict[str, Any], examples: Path) -> list[str]:
    found = examples_of(model.TYPE, examples)
    if not found:
        return [f"{model.TYPE}: no example in {examples / model.TYPE}/<name>.json"]
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = []
    for name, data in found.items():
        where = f"{model.TYPE} example {name!r}"
        for error in validator.iter_errors(data):
            field = ".".join(map(str, error.absolute_path)) or "(the event)"
            problems.append(f"{where} does not match the frozen schema at {field}: {error.message}")
        try:
            model.model_validate(data)
        except ValidationError as error:
            problems.append(f"{where} does not read as {model.__name__}: {error}")
    return problems
