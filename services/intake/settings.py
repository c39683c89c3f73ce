from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from casework.config import LedgerSettings, ServiceSettings
from casework.farm import Wiki, parse_farm
from services.intake.mail.settings import MailSettings


class IntakeSettings(ServiceSettings, MailSettings, LedgerSettings):
    SERVICE = "intake"

    port: int = Field(8081, ge=1, le=65535, validation_alias="INTAKE_PORT")
    store_url_override: str | None = Field(None, validation_alias="INTAKE_STORE_URL")
    # On-wiki evidence must link to one of these wikis (their hosts).
    wiki_farm: str = Field("sandbox=http://127.0.0.1:8090/api.php", validation_alias="WIKI_FARM")
    # Signs the web form's CSRF tokens; empty means a random key per process start.
    form_secret: str = Field("", validation_alias="INTAKE_FORM_SECRET", repr=False)

    @field_validator("wiki_farm")
    @classmethod
    def _farm_parses(cls, value: str) -> str:
        parse_farm(value)
        return value

    def wikis(self) -> dict[str, Wiki]:
        return parse_farm(self.wiki_farm)

    def wiki_hosts(self) -> frozenset[str]:
        return frozenset(
            (urlsplit(w.api_url).hostname or "").lower() for w in self.wikis().values()
        )

    def wiki_base(self) -> str:
        """The first wiki's base URL (its api.php's directory), for examples."""
        first = next(iter(self.wikis().values()))
        return first.api_url.rsplit("/", 1)[0]
