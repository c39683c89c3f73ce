from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from casework.config import (
    ConfigError,
    LedgerSettings,
    RoleAccountSettings,
    ServiceSettings,
    UpstreamSettings,
)


class EnforcementSettings(ServiceSettings, RoleAccountSettings, LedgerSettings, UpstreamSettings):
    SERVICE = "enforcement"

    port: int = Field(8083, ge=1, le=65535, validation_alias="ENFORCEMENT_PORT")
    store_url_override: str | None = Field(None, validation_alias="ENFORCEMENT_STORE_URL")
    wiki_farm: str = Field("sandbox=http://127.0.0.1:8090/api.php", validation_alias="WIKI_FARM")
    retry_seconds: float = Field(30.0, gt=0, validation_alias="ENFORCEMENT_RETRY_SECONDS")
    watch_seconds: float = Field(60.0, gt=0, validation_alias="ENFORCEMENT_WATCH_SECONDS")
    centralauth_wiki: str | None = Field(
        None,
        pattern=r"^[a-z0-9_-]{1,64}$",
        validation_alias="ENFORCEMENT_CENTRALAUTH_WIKI",
        description="Farm wiki id whose API has CentralAuth (global locks); unset: none.",
    )
    wiki_password_file: Path | None = Field(None, validation_alias="WIKI_PASSWORD_FILE")

    def role_password(self) -> SecretStr:
        """The bot password: from WIKI_PASSWORD_FILE (a secrets file) if set, else WIKI_PASSWORD."""
        if self.wiki_password_file is None:
            return SecretStr(self.wiki_password)
        try:
            text = self.wiki_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"WIKI_PASSWORD_FILE: cannot read it ({exc.strerror})") from exc
        if not text:
            raise ConfigError("WIKI_PASSWORD_FILE: the file is empty")
        return SecretStr(text)
