"""Reporting periods: a year, or one of its quarters, in UTC. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

FIRST_YEAR = 2000
LAST_YEAR = 2100


def quarter_of(moment: datetime) -> int:
    return (moment.astimezone(UTC).month - 1) // 3 + 1


@dataclass(frozen=True)
class Period:
    year: int
    quarter: int | None = None

    def __post_init__(self) -> None:
        if not FIRST_YEAR <= self.year <= LAST_YEAR:
            raise ValueError(f"year must be {FIRST_YEAR}-{LAST_YEAR}")
        if self.quarter is not None and not 1 <= self.quarter <= 4:
            raise ValueError("quarter must be 1-4")

    @property
    def start(self) -> datetime:
        month = 1 if self.quarter is None else 3 * (self.quarter - 1) + 1
        return datetime(self.year, month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        if self.quarter is None or self.quarter == 4:
            return datetime(self.year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.year, 3 * self.quarter + 1, 1, tzinfo=UTC)

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    @property
    def label(self) -> str:
        return str(self.year) if self.quarter is None else f"{self.year}-Q{self.quarter}"
