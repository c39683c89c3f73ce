from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlencode

from pydantic import Field

from casework.config import ServiceSettings
from casework.contract.common import Email

# Every consumer group of the monitor's faust app starts with this; lag leaves them out.
GROUP_PREFIX = "casework-monitor"


class MonitorSettings(ServiceSettings):
    SERVICE = "monitor"

    port: int = Field(8085, ge=1, le=65535, validation_alias="MONITOR_PORT")
    store_url_override: str | None = Field(None, validation_alias="MONITOR_STORE_URL")
    review_public_url: str = Field(
        "http://127.0.0.1:8082",
        pattern=r"^https?://\S+$",
        validation_alias="REVIEW_PUBLIC_URL",
    )
    # Where people reach the monitor: the review hand-off sends browsers back here, and
    # https makes the session cookie `Secure`.
    public_url: str = Field(
        "http://127.0.0.1:8085",
        pattern=r"^https?://[^/\s]+(/\S*)?$",
        validation_alias="MONITOR_PUBLIC_URL",
    )
    ops_address: Email | None = Field(None, validation_alias="MONITOR_OPS_EMAIL")
    ops_language: Literal["en", "ru"] = Field("en", validation_alias="MONITOR_OPS_LANGUAGE")
    # rebuild: re-read every source topic from the start on each start (Tansu: its
    # end offsets make changelog recovery unreliable). changelog: faust's normal
    # tables, recovered from their changelog topics (a real Kafka cluster).
    state_recovery: Literal["rebuild", "changelog"] = Field(
        "rebuild", validation_alias="MONITOR_STATE_RECOVERY"
    )
    at_risk_hours: float = Field(24.0, gt=0, validation_alias="MONITOR_AT_RISK_HOURS")
    tick_seconds: float = Field(5.0, gt=0, validation_alias="MONITOR_TICK_SECONDS")
    quiet_seconds: float = Field(2.0, ge=0, validation_alias="MONITOR_QUIET_SECONDS")
    lag_seconds: float = Field(10.0, gt=0, validation_alias="MONITOR_LAG_SECONDS")

    @property
    def at_risk_window(self) -> timedelta:
        return timedelta(hours=self.at_risk_hours)

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def handoff_url(self, back: str) -> str:
        """Review's console hand-off, which signs the staff member in here."""
        query = urlencode({"audience": "monitor", "return": back})
        return f"{self.review_public_url.rstrip('/')}/console/handoff?{query}"

    def case_url(self, case_id: str) -> str:
        return f"{self.review_public_url.rstrip('/')}/console/cases/{case_id}"
