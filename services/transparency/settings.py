"""The portal's settings from the environment; every variable is in the README."""

from __future__ import annotations

from pydantic import Field

from casework.config import ServiceSettings


class TransparencySettings(ServiceSettings):
    SERVICE = "transparency"

    port: int = Field(8086, ge=1, le=65535, validation_alias="TRANSPARENCY_PORT")
    store_url_override: str | None = Field(None, validation_alias="TRANSPARENCY_STORE_URL")
    # Base URL of intake's public pages: "how to ask about this action" links go there.
    intake_public_url: str = Field(
        "http://127.0.0.1:8081",
        pattern=r"^https?://[^/\s]+(/\S*)?$",
        validation_alias="INTAKE_PUBLIC_URL",
    )
    # The portal's own public base URL, for the Atom feed's links; unset: the request's.
    public_url: str | None = Field(
        None, pattern=r"^https?://[^/\s]+(/\S*)?$", validation_alias="TRANSPARENCY_PUBLIC_URL"
    )
    # Rows per page of the lists (pages and JSON API).
    page_size: int = Field(25, ge=1, le=500, validation_alias="TRANSPARENCY_PAGE_SIZE")
    # Base URL of the DSA Transparency Database's statement pages (a statement's id appended).
    dsa_statement_url: str = Field(
        "https://transparency.dsa.ec.europa.eu/statement/",
        pattern=r"^https?://\S+$",
        validation_alias="TRANSPARENCY_DSA_STATEMENT_URL",
    )
