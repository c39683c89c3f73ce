"""Generate the machine-readable event catalogue (AsyncAPI 3.0) from the contract.

python -m casework.catalogue            # rewrite docs/asyncapi.yaml
python -m casework.catalogue --check    # exit 1 when the file is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from casework.contract import EVENT_TYPES, SERVICES, EventData, dead_letter_topic_of, topic_of

CATALOGUE_PATH = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml"
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


def build_catalogue() -> dict[str, Any]:
    models = sorted(EVENT_TYPES.values(), key=lambda m: m.TYPE)
    _, schemas = models_json_schema([(m, "serialization") for m in models], ref_template=REF)
    messages: dict[str, Any] = {}
    for model in models:
        messages[_message_name(model)] = {
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
        }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for service in SERVICES:
        produced = [m for m in models if m.PRODUCER == service]
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
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Office actions case pipeline events",
            "version": "1",
            "description": "Generated from casework/contract.py; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": dict(sorted(schemas.get("$defs", {}).items())),
        },
    }


def render_catalogue() -> str:
    return yaml.safe_dump(build_catalogue(), sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    text = render_catalogue()
    if args.check:
        current = CATALOGUE_PATH.read_text(encoding="utf-8") if CATALOGUE_PATH.exists() else ""
        if current != text:
            print(f"{CATALOGUE_PATH} is out of date: run python -m casework.catalogue")
            return 1
        return 0
    CATALOGUE_PATH.parent.mkdir(parents=True, exist_ok=True)
    CATALOGUE_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {CATALOGUE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
