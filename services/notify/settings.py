from __future__ import annotations

from pathlib import Path

from pydantic import Field

from casework.config import (
    ReviewLedgerSettings,
    RoleAccountSettings,
    ServiceSettings,
    UpstreamSettings,
)
from services.notify.domain.log_pages import MAX_PAGE_BYTES, MIN_PAGE_BYTES


class NotifySettings(ServiceSettings, RoleAccountSettings, UpstreamSettings, ReviewLedgerSettings):
    SERVICE = "notify"

    port: int = Field(8084, ge=1, le=65535, validation_alias="NOTIFY_PORT")
    store_url_override: str | None = Field(None, validation_alias="NOTIFY_STORE_URL")
    statement_wiki_api: str = Field(
        "http://127.0.0.1:8090/api.php",
        pattern=r"^https?://\S+/api\.php$",
        validation_alias="STATEMENT_WIKI_API",
    )
    # Where the log page's revisions are read (the portal's links to a statement's
    # entry); unset: the index.php beside STATEMENT_WIKI_API.
    statement_wiki_index_url: str | None = Field(
        None, pattern=r"^https?://\S+$", validation_alias="STATEMENT_WIKI_INDEX_URL"
    )
    # A page of the public log takes statements up to this size; the log then goes on on
    # its next page (services/notify/domain/log_pages.py). Every append makes the wiki
    # render the whole page again: 39 ms of its CPU at 2 KB, 49 at 21 KB, 100 at 78 KB.
    public_log_page_max_bytes: int = Field(
        32_000,
        ge=MIN_PAGE_BYTES,
        le=MAX_PAGE_BYTES,
        validation_alias="PUBLIC_LOG_PAGE_MAX_BYTES",
    )
    smtp_host: str = Field("127.0.0.1", validation_alias="SMTP_HOST")
    smtp_port: int = Field(8025, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: str | None = Field(None, validation_alias="SMTP_PASSWORD", repr=False)
    smtp_starttls: bool = Field(False, validation_alias="SMTP_STARTTLS")
    smtp_attempts: int = Field(5, ge=1, le=20, validation_alias="SMTP_ATTEMPTS")
    smtp_backoff_seconds: float = Field(1.0, gt=0, validation_alias="SMTP_BACKOFF_SECONDS")
    # SMTP connections kept and used at once (sends beyond that wait for one).
    smtp_connections: int = Field(4, ge=1, le=64, validation_alias="NOTIFY_SMTP_CONNECTIONS")
    mail_from: str = Field(
        "Trust & Safety <trust-and-safety@officeactions.test>", validation_alias="MAIL_FROM"
    )
    functionaries_file: Path | None = Field(None, validation_alias="FUNCTIONARIES_FILE")
    dsa_api_url: str | None = Field(None, pattern=r"^https?://\S+$", validation_alias="DSA_API_URL")
    dsa_api_token: str | None = Field(None, validation_alias="DSA_API_TOKEN", repr=False)
    lumen_api_url: str | None = Field(
        None, pattern=r"^https?://\S+$", validation_alias="LUMEN_API_URL"
    )
    lumen_api_token: str | None = Field(None, validation_alias="LUMEN_API_TOKEN", repr=False)
    transparency_interval_seconds: float = Field(
        30.0, gt=0, validation_alias="TRANSPARENCY_INTERVAL_SECONDS"
    )

    def wiki_index_url(self) -> str:
        """The wiki's index.php, for links to a revision of the log page."""
        if self.statement_wiki_index_url:
            return self.statement_wiki_index_url
        return self.statement_wiki_api.removesuffix("api.php") + "index.php"
