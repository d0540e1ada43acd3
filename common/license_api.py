"""The license proxy's API for the gateway (loopback only), imported by both sides: the proxy serves
and accepts these shapes, the gateway parses and sends them, so neither can drift from the other.

- `GET STATUS_PATH` -> `LicenseStatus`: the verdict the gateway enforces, today's usage, the spool.
- `POST USAGE_PATH` `UsagePost` -> `202 UsageAccepted` (deduped on `record_id`); a record with a field
  this contract does not name is refused (422), so no record can carry text, audio or a transcript;
  `507` when the spool is full.
Days are UTC days (`utc_day`): the daily audio quota resets at 00:00 UTC on both sides.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

STATUS_PATH = "/v1/license"
USAGE_PATH = "/v1/usage"
MAX_RECORDS_PER_POST = 1000
EXPIRED_CODES = frozenset({"expired", "grace_expired"})  # renewing the license fixes these


def utc_day(ts: float | None = None) -> str:
    """The UTC day of `ts` (now when None), as usage is counted per day."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if ts is None else ts))


class UsageToday(BaseModel):
    day: str
    requests: int = 0
    audio_seconds: float = 0.0
    characters: int = 0


class SpoolInfo(BaseModel):
    pending: int
    max_records: int
    near_full: bool


class LicenseStatus(BaseModel):
    """GET /v1/license: what the gateway enforces."""

    valid: bool
    mode: str
    code: str = Field(
        description="ok | cached | disabled | expired | grace_expired | invalid_key | tampered | ..."
    )
    reason: str
    source: str = Field(description="server | cache | file | none | disabled")
    license_id: str | None = None
    expires_at: float | None = None
    features: list[str] = Field(default_factory=list)
    quotas: dict[str, float] = Field(default_factory=dict)
    validated_at: float | None = None
    grace_remaining_s: float | None = None
    warning: str | None = None
    usage_today: UsageToday
    spool: SpoolInfo

    @property
    def expired(self) -> bool:
        return self.code in EXPIRED_CODES


class UsageRecord(BaseModel):
    """One request's metadata. extra=forbid: a field that could carry text is refused, not stored."""

    model_config = ConfigDict(extra="forbid")

    record_id: str = Field(
        min_length=8, max_length=64, description="Unique per record; retries dedupe on it."
    )
    request_id: str = Field(max_length=64)
    ts: float = Field(description="Unix time the request ended.")
    route: str = Field(max_length=200)
    method: str = Field(max_length=16)
    features: list[str] = Field(default_factory=list, max_length=8)
    status: int
    duration_ms: float = Field(ge=0)
    audio_seconds: float = Field(0.0, ge=0)
    characters: int = Field(0, ge=0)


class UsagePost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[UsageRecord] = Field(min_length=1, max_length=MAX_RECORDS_PER_POST)


class UsageAccepted(BaseModel):
    accepted: int
    duplicates: int
    usage_today: UsageToday
