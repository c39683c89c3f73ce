"""Intake's settings from the environment: the service's own, and its mail channel's (a
mixin, so the mail channel can be configured on its own); every variable is in the README."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from casework.config import (
    LedgerSettings,
    ReconcileSettings,
    ReviewLedgerSettings,
    ServiceSettings,
)
from casework.contract import SubmissionKind
from casework.farm import Wiki, parse_farm
from services.intake.domain.mail.mapping import DEFAULT_ADDRESSES

DEFAULT_DOMAIN = "officeactions.test"


def _default_addresses() -> str:
    return ",".join(
        f"{local}@{DEFAULT_DOMAIN}={kind.value}" for local, kind in DEFAULT_ADDRESSES.items()
    )


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    mail_host: str = Field("127.0.0.1", validation_alias="INTAKE_MAIL_HOST")
    mail_port: int | None = Field(8026, ge=1, le=65535, validation_alias="INTAKE_MAIL_PORT")
    lmtp_port: int | None = Field(None, ge=1, le=65535, validation_alias="INTAKE_LMTP_PORT")
    mail_addresses: str = Field(_default_addresses(), validation_alias="INTAKE_MAIL_ADDRESSES")
    mail_max_bytes: int = Field(25 * 1024 * 1024, ge=1024, validation_alias="INTAKE_MAIL_MAX_BYTES")
    wiki_farm: str = Field("", validation_alias="WIKI_FARM")
    imap_host: str | None = Field(None, validation_alias="INTAKE_IMAP_HOST")
    imap_port: int = Field(143, ge=1, le=65535, validation_alias="INTAKE_IMAP_PORT")
    imap_user: str = Field("", validation_alias="INTAKE_IMAP_USER")
    imap_password: SecretStr = Field(SecretStr(""), validation_alias="INTAKE_IMAP_PASSWORD")
    imap_folder: str = Field("INBOX", validation_alias="INTAKE_IMAP_FOLDER")
    imap_processed_folder: str = Field("Processed", validation_alias="INTAKE_IMAP_PROCESSED")
    imap_quarantine_folder: str = Field("Quarantine", validation_alias="INTAKE_IMAP_QUARANTINE")
    imap_poll_seconds: float = Field(30.0, gt=0, validation_alias="INTAKE_IMAP_POLL_SECONDS")
    imap_default_kind: SubmissionKind | None = Field(
        None, validation_alias="INTAKE_IMAP_DEFAULT_KIND"
    )

    @field_validator("mail_addresses")
    @classmethod
    def _addresses_parse(cls, value: str) -> str:
        parse_addresses(value)
        return value

    def address_map(self) -> dict[str, SubmissionKind]:
        return parse_addresses(self.mail_addresses)

    def wiki_hosts(self) -> frozenset[str]:
        hosts = (urlsplit(e.partition("=")[2]).hostname for e in self.wiki_farm.split(","))
        return frozenset(h.lower() for h in hosts if h)


def parse_addresses(text: str) -> dict[str, SubmissionKind]:
    """ "address=kind,…" into a map, naming the bad entry."""
    found: dict[str, SubmissionKind] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        address, _, kind = entry.partition("=")
        address = address.strip().lower()
        if "@" not in address or not kind:
            raise ValueError(f"entry {entry!r} must look like address@domain=kind")
        try:
            found[address] = SubmissionKind(kind.strip())
        except ValueError:
            known = ", ".join(k.value for k in SubmissionKind)
            raise ValueError(f"entry {entry!r}: unknown kind (one of: {known})") from None
    if not found:
        raise ValueError("no addresses configured")
    return found


class IntakeSettings(
    ServiceSettings, MailSettings, LedgerSettings, ReviewLedgerSettings, ReconcileSettings
):
    """Intake serves its ledger to review (LedgerSettings) and reconciles its tracking
    pages from review's ledger (ReviewLedgerSettings: CASEWORK_REVIEW_LEDGER_URL and the
    token of the review-intake pair; unset URL: no reconciliation; ReconcileSettings:
    CASEWORK_RECONCILE_SECONDS)."""

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
