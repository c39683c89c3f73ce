"""The functionaries file (FUNCTIONARIES_FILE, YAML) read into the domain's listing."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from services.notify.domain.functionaries import Functionaries


class FunctionariesError(Exception):
    pass


def load_functionaries(path: Path | None) -> Functionaries:
    if path is None:
        return Functionaries()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Functionaries.model_validate(raw)
    except OSError as exc:
        raise FunctionariesError(f"{path}: cannot read: {exc.strerror}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise FunctionariesError(f"{path}: {exc}") from exc
