from __future__ import annotations

from pydantic import Field

from casework.config import RoleAccountSettings, ServiceSettings


class EnforcementSettings(ServiceSettings, RoleAccountSettings):
    SERVICE = "enforcement"

    port: int = Field(8083, ge=1, le=65535, validation_alias="ENFORCEMENT_PORT")
    store_url_override: str | None = Field(None, validation_alias="ENFORCEMENT_STORE_URL")
    wiki_farm: str = Field("sandbox=http://127.0.0.1:8090/api.php", validation_alias="WIKI_FARM")
    retry_seconds: float = Field(30.0, gt=0, validation_alias="ENFORCEMENT_RETRY_SECONDS")
