from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

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
    # Sign-in through the organisation's identity provider (OIDC). Unset issuer: off.
    oidc_issuer: str | None = Field(
        None, pattern=r"^https?://[^/\s]+(/\S*)?$", validation_alias="REVIEW_OIDC_ISSUER"
    )
    oidc_client_id: str | None = Field(None, min_length=1, validation_alias="REVIEW_OIDC_CLIENT_ID")
    oidc_client_secret: SecretStr | None = Field(None, validation_alias="REVIEW_OIDC_CLIENT_SECRET")
    # The claim matched to the staff directory: `sub` to the staff id, `email` (only when
    # the provider says it is verified) to the staff member's e-mail address.
    oidc_claim: Literal["sub", "email"] = Field("sub", validation_alias="REVIEW_OIDC_CLAIM")
    oidc_scopes: str = Field("openid email profile", validation_alias="REVIEW_OIDC_SCOPES")
    # Password sign-in on the console (false: only the identity provider).
    password_sign_in: bool = Field(True, validation_alias="REVIEW_PASSWORD_SIGNIN")

    @model_validator(mode="after")
    def _oidc_complete(self) -> Self:
        if self.oidc_issuer:
            for name in ("oidc_client_id", "oidc_client_secret"):
                if not getattr(self, name):
                    env = "REVIEW_" + name.upper()
                    raise ValueError(f"{env}: required when REVIEW_OIDC_ISSUER is set")
            if "openid" not in self.oidc_scopes.split():
                raise ValueError("REVIEW_OIDC_SCOPES: must include openid")
        elif not self.password_sign_in:
            raise ValueError(
                "REVIEW_PASSWORD_SIGNIN: may be false only when REVIEW_OIDC_ISSUER is set"
                " (else nobody could sign in)"
            )
        return self
