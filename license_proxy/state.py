"""The proxy's current license status, whatever the mode, plus today's usage and the spool's fill."""

from __future__ import annotations

import logging
import uuid

from common.license_api import LicenseStatus, SpoolInfo, utc_day

from .offline import check_license_file
from .online import OnlineValidator, Verdict
from .settings import LicenseProxySettings
from .spool import UsageSpool

log = logging.getLogger(__name__)


def instance_id(settings: LicenseProxySettings) -> str:
    """A stable id for this appliance (kept in STATE_DIR) so the server can tell installations apart."""
    path = settings.state_dir / "license" / "instance_id"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_text().strip()
    value = uuid.uuid4().hex
    path.write_text(value)
    return value


class LicenseState:
    def __init__(
        self, settings: LicenseProxySettings, spool: UsageSpool, online: OnlineValidator | None
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.online = online
        self._last_code: str | None = None

    def verdict(self) -> Verdict:
        mode = self.settings.mode
        if mode == "disabled":
            return Verdict(
                False, "disabled", "license checks are disabled: this appliance runs unlicensed", "disabled"
            )
        if mode == "offline":
            check = check_license_file(self.settings.license_file, self.settings.license_public_key)
            return Verdict(check.code == "ok", check.code, check.reason, "file", check.terms)
        assert self.online is not None
        return self.online.verdict()

    def status(self) -> LicenseStatus:
        verdict = self.verdict()
        if verdict.code != self._last_code:  # log changes, not every poll
            level = logging.INFO if verdict.valid or verdict.code == "disabled" else logging.ERROR
            log.log(
                level, "license status", extra={"fields": {"code": verdict.code, "reason": verdict.reason}}
            )
            self._last_code = verdict.code
        terms = verdict.terms
        pending = self.spool.pending()
        return LicenseStatus(
            valid=verdict.valid,
            mode=self.settings.mode,
            code=verdict.code,
            reason=verdict.reason,
            source=verdict.source,
            license_id=terms.license_id if terms else None,
            expires_at=terms.expires_at if terms else None,
            features=terms.features if terms else [],
            quotas=terms.quotas if terms else {},
            validated_at=verdict.validated_at,
            grace_remaining_s=verdict.grace_remaining_s,
            warning=verdict.warning,
            usage_today=self.spool.usage_on(utc_day()),
            spool=SpoolInfo(
                pending=pending,
                max_records=self.spool.max_records,
                near_full=pending >= self.settings.usage_spool_warn_ratio * self.spool.max_records,
            ),
        )
