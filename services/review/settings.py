from __future__ import annotations

from pathlib import Path

from pydantic import Field

from casework.config import REPO_ROOT, LedgerSettings, ServiceSettings, UpstreamSettings


class ReviewSettings(ServiceSettings, LedgerSettings, UpstreamSettings):
    SERVICE = "review"

    port: int = Field(8082, ge=1, le=65535, validation_alias="REVIEW_PORT")
    store_url_override: str | None = Field(None, validation_alias="REVIEW_STORE_URL")
    staff_file: Path = Field(
        REPO_ROOT / "deploy" / "demo-staff.yaml", validation_alias="REVIEW_STAFF_FILE"
    )
    # How stale an instance's in-memory staff directory may be (the store is the truth).
    staff_refresh_seconds: float = Field(
        1.0, gt=0, le=300, validation_alias="REVIEW_STAFF_REFRESH_SECONDS"
    )
    # Where people reach the console; https makes the session cookie `Secure`.
    public_url: str | None = Field(None, validation_alias="REVIEW_PUBLIC_URL")
    # Unset: `Secure` when public_url (else the request) is https; true/false overrides.
    secure_cookies: bool | None = Field(
        None, validation_alias="REVIEW_SECURE_COOKIES", description="Override the default."
    )
    # Where people reach the monitor: the console hand-off redirects only there.
    monitor_public_url: str = Field(
        "http://127.0.0.1:8085",
        pattern=r"^https?://[^/\s]+(/\S*)?$",
        validation_alias="MONITOR_PUBLIC_URL",
    )
    # Overrides the policy's review.deadline_scan_seconds (tests scan faster).
    deadline_scan_seconds: float | None = Field(
        None, gt=0, validation_alias="REVIEW_DEADLINE_SCAN_SECONDS"
    )
