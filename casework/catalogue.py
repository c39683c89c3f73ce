"""Generate what is derived from the contract, and check that the contract still keeps its word.

python -m casework.catalogue            # freeze new types' schemas, rewrite docs/asyncapi.yaml
                                        # and the README's events table
python -m casework.catalogue --check    # exit 1 when any of them is stale, a type broke its
                                        # frozen schema, or an example does not read

The AsyncAPI catalogue's payload schemas are the current models; its examples are the
example files (casework/contract/examples/). Frozen schemas: casework.contract.frozen.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from casework.contract import (
    EVENT_TYPES,
    PUBLIC_TOPIC,
    READ_MODELS,
    SERVICES,
    EventData,
    dead_letter_topic_of,
    topic_for,
    topic_of,
)
from casework.contract.frozen import EXAMPLES_DIR, SCHEMAS_DIR, examples_of, freeze_new, problems

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_PATH = ROOT / "docs" / "asyncapi.yaml"
README_PATH = ROOT / "README.md"
TABLE_START = (
    "<!-- events table: written by `make catalogue` from casework/contract; "
    "edit the contract, not the table -->"
)
TABLE_END = "<!-- end of events table -->"
REF = "#/components/schemas/{model}"

_CE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 context attributes in Kafka binary mode.",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_subject", "ce_time"],
    "properties": {
        "ce_specversion": {"const": "1.0"},
        "ce_id": {"type": "string", "description": "Unique per event; consumers dedupe on it."},
        "ce_type": {"type": "string"},
        "ce_source": {"type": "string"},
        "ce_subject": {"type": "string", "description": "Case or submission id; also the key."},
        "ce_time": {"type": "string", "format": "date-time"},
        "content-type": {"const": "application/json"},
    },
}


def _message_name(model: type[EventData]) -> str:
    return model.__name__


def _message(model: type[EventData], examples: Path) -> dict[str, Any]:
    return {
        "name": model.TYPE,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
        "contentType": "application/json",
        "headers": {
            **_CE_HEADERS,
            "properties": {
                **_CE_HEADERS["properties"],
                "ce_type": {"const": model.TYPE},
            },
        },
        "payload": {"$ref": REF.format(model=model.__name__)},
        "bindings": {"kafka": {"key": {"type": "string", "description": "ce_subject"}}},
        "examples": [
            {"name": name, "payload": payload}
            for name, payload in examples_of(model.TYPE, examples).items()
        ],
    }


def _add_public_channels(
    models: list[type[EventData]], channels: dict[str, Any], operations: dict[str, Any]
) -> None:
    """The public topic (notify's public-level events) and the read models' dead letters."""
    channels["public"] = {
        "address": PUBLIC_TOPIC,
        "description": (
            "Public-level events (notify renders them from its public views): all the "
            "transparency portal reads, and nothing any reader of the world may not see."
        ),
        "messages": {
            _message_name(m): {"$ref": f"#/components/messages/{_message_name(m)}"}
            for m in models
            if topic_for(m) == PUBLIC_TOPIC
        },
    }
    operations["notifyPublishesPublic"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/public"},
    }
    for reader in READ_MODELS:
        channels[f"{reader}DeadLetters"] = {
            "address": dead_letter_topic_of(reader),
            "description": f"Messages the {reader} service could not decode or handle.",
        }


def build_catalogue(examples: Path = EXAMPLES_DIR) -> dict[str, Any]:
    models = sorted(EVENT_TYPES.values(), key=lambda m: m.TYPE)
    _, schemas = models_json_schema([(m, "serialization") for m in models], ref_template=REF)
    messages = {_message_name(model): _message(model, examples) for model in models}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for service in SERVICES:
        produced = [m for m in models if topic_for(m) == topic_of(service)]
        channel_id = service
        channels[channel_id] = {
            "address": topic_of(service),
            "description": f"Events published by the {service} service.",
            "messages": {
                _message_name(m): {"$ref": f"#/components/messages/{_message_name(m)}"}
                for m in produced
            },
        }
        operations[f"{service}Publishes"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
        }
        channels[f"{service}DeadLetters"] = {
            "address": dead_letter_topic_of(service),
            "description": (
                f"Messages the {service} service could not decode or handle: the original "
                "key, value and headers plus dlq_* headers naming the error."
            ),
        }
    _add_public_channels(models, channels, operations)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Office actions case pipeline events",
            "version": "1",
            "description": "Generated from casework/contract/; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": dict(sorted(schemas.get("$defs", {}).items())),
        },
    }


def render_catalogue(examples: Path = EXAMPLES_DIR) -> str:
    return yaml.safe_dump(build_catalogue(examples), sort_keys=False, allow_unicode=True, width=100)


def events_table() -> str:
    """The README's table of topics and the event types on each, from the contract."""
    rows = ["| topic | event types |", "|---|---|"]
    for topic in [*(topic_of(service) for service in SERVICES), PUBLIC_TOPIC]:
        types = [m.TYPE for m in EVENT_TYPES.values() if topic_for(m) == topic]
        prefix = types[0].rsplit(".", 2)[0] + "."
        named = [f"`{types[0]}`", *(f"`…{t.removeprefix(prefix)}`" for t in types[1:])]
        rows.append(f"| `{topic}` | {', '.join(named)} |")
    rows.append(
        f"| `{dead_letter_topic_of('<service>')}` | what that service could not decode or "
        "handle, with `dlq_*` error headers |"
    )
    return "\n".join(rows)


def with_events_table(readme: str) -> str:
    """The README with the text between the table's markers replaced by the current table."""
    start, end = readme.find(TABLE_START), readme.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no events table markers: {TABLE_START} ... {TABLE_END}")
    head = readme[: start + len(TABLE_START)]
    return f"{head}\n{events_table()}\n{readme[end:]}"


@dataclass(frozen=True)
class Places:
    """Where the generated files live; tests point it at copies."""

    catalogue: Path = CATALOGUE_PATH
    readme: Path = README_PATH
    schemas: Path = SCHEMAS_DIR
    examples: Path = EXAMPLES_DIR


def _generated(places: Places) -> dict[Path, str]:
    readme = places.readme.read_text(encoding="utf-8")
    return {
        places.catalogue: render_catalogue(places.examples),
        places.readme: with_events_table(readme),
    }


def check(places: Places = Places()) -> list[str]:
    """Every way the derived files and the frozen contract are out of step; empty when none."""
    found = [
        f"{path} is out of date: run make catalogue"
        for path, text in _generated(places).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    return [*found, *problems(EVENT_TYPES.values(), places.schemas, places.examples)]


def write(places: Places = Places()) -> list[str]:
    """Freeze new types, rewrite the derived files; what is left for a person to fix."""
    for path in freeze_new(EVENT_TYPES.values(), places.schemas):
        print(f"froze {path}")
    for path, text in _generated(places).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return problems(EVENT_TYPES.values(), places.schemas, places.examples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when anything is stale")
    args = parser.parse_args(argv)
    found = check() if args.check else write()
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
