"""Typed shapes of the proxy's API and of the license terms (metadata only, never content)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Terms(BaseModel):
    """What a license grants. Online: the server's answer; offline: the signed file's payload."""

    model_config = ConfigDict(extra="ignore")

    license_id: str
    customer: str = ""
    expires_at: float = Field(description="Unix time the license ends.")
    features: list[str] = Field(default_factory=list)
    quotas: dict[str, float] = Field(default_factory=dict)


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

    records: list[UsageRecord] = Field(min_length=1, max_length=1000)


class UsageAccepted(BaseModel):
    accepted: int
    duplicates: int
    usage_today: UsageToday
