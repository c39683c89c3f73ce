from __future__ import annotations

from pydantic import Field

from casework.config import RoleAccountSettings, ServiceSettings


class NotifySettings(ServiceSettings, RoleAccountSettings):
    SERVICE = "notify"

    port: int = Field(8084, ge=1, le=65535, validation_alias="NOTIFY_PORT")
    store_url_override: str | None = Field(None, validation_alias="NOTIFY_STORE_URL")
    statement_wiki_api: str = Field(
        "http://127.0.0.1:8090/api.php",
        pattern=r"^https?://\S+/api\.php$",
        validation_alias="STATEMENT_WIKI_API",
    )
    smtp_host: str = Field("127.0.0.1", validation_alias="SMTP_HOST")
    smtp_port: int = Field(8025, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: str | None = Field(None, validation_alias="SMTP_PASSWORD", repr=False)
    smtp_starttls: bool = Field(False, validation_alias="SMTP_STARTTLS")
    mail_from: str = Field(
        "Trust & Safety <trust-and-safety@officeactions.test>", validation_alias="MAIL_FROM"
    )
