from __future__ import annotations

from pathlib import Path

from pydantic import Field

from casework.config import REPO_ROOT, ServiceSettings


class ReviewSettings(ServiceSettings):
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
    secure_cookies: bool = Field(
        False, validation_alias="REVIEW_SECURE_COOKIES", description="Set behind HTTPS."
    )
    # Overrides the policy's review.deadline_scan_seconds (tests scan faster).
    deadline_scan_seconds: float | None = Field(
        None, gt=0, validation_alias="REVIEW_DEADLINE_SCAN_SECONDS"
    )
