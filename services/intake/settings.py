from __future__ import annotations

from pydantic import Field

from casework.config import ServiceSettings


class IntakeSettings(ServiceSettings):
    SERVICE = "intake"

    port: int = Field(8081, ge=1, le=65535, validation_alias="INTAKE_PORT")
    store_url_override: str | None = Field(None, validation_alias="INTAKE_STORE_URL")
