"""Online mode: validate LICENSE_KEY against the license server, keep the last good answer on disk.

The cache is honoured for LICENSE_GRACE_HOURS after the validation it records, measured from that
validation (wall clock), so a restart during an outage neither resets nor loses the grace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import ValidationError

from . import __version__
from .models import Terms
from .settings import LicenseProxySettings

log = logging.getLogger(__name__)

VALIDATE_PATH = "/v1/licenses/validate"


@dataclass
class Verdict:
    """What online mode says right now, before usage and spool details are added."""

    valid: bool
    code: str
    reason: str
    source: str
    terms: Terms | None = None
    validated_at: float | None = None
    grace_remaining_s: float | None = None
    warning: str | None = None


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class OnlineValidator:
    def __init__(self, settings: LicenseProxySettings, http: httpx.AsyncClient, instance_id: str) -> None:
        self.settings = settings
        self.http = http
        self.instance_id = instance_id
        self.cache_path = settings.state_dir / "license" / "validation.json"
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        self.terms: Terms | None = None
        self.validated_at: float | None = None
        self.reachable: bool | None = None  # None: not asked yet
        self.last_error: str | None = None
        self.unreachable_since: float | None = None
        self.denied: tuple[str, str] | None = None  # (code, reason) from the server
        self._load_cache()

    # --- cache -----------------------------------------------------------------------------------
    def _load_cache(self) -> None:
        try:
            cached = json.loads(self.cache_path.read_text())
            if cached.get("key_sha256") != key_digest(self.settings.license_key):
                log.warning("cached validation is for another license key; ignoring it")
                return
            self.terms = Terms.model_validate(cached["terms"])
            self.validated_at = float(cached["validated_at"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            log.warning("cached validation unreadable; ignoring it", extra={"fields": {"error": str(exc)}})
            return
        log.info(
            "cached validation loaded",
            extra={"fields": {"validated_at": iso(self.validated_at), "license_id": self.terms.license_id}},
        )

    def _save_cache(self) -> None:
        assert self.terms is not None and self.validated_at is not None
        body = {
            "key_sha256": key_digest(self.settings.license_key),
            "validated_at": self.validated_at,
            "terms": self.terms.model_dump(),
        }
        write_atomically(self.cache_path, json.dumps(body))

    def _drop_cache(self) -> None:
        self.terms = None
        self.validated_at = None
        self.cache_path.unlink(missing_ok=True)

    # --- talking to the server ---------------------------------------------------------------------
    async def validate_once(self) -> bool:
        """One validation call. True when the server gave a definitive answer (yes or no)."""
        url = self.settings.license_server_url.rstrip("/") + VALIDATE_PATH
        body = {
            "license_key": self.settings.license_key,
            "instance_id": self.instance_id,
            "product_version": __version__,
        }
        try:
            response = await self.http.post(url, json=body, timeout=self.settings.license_http_timeout_s)
            answer = response.json() if response.status_code < 500 else None
        except (httpx.HTTPError, ValueError) as exc:
            return self._unreachable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if answer is None or not isinstance(answer, dict) or "valid" not in answer:
            return self._unreachable(f"license server answered HTTP {response.status_code}")
        self.reachable, self.last_error, self.unreachable_since = True, None, None
        if answer["valid"] is True:
            try:
                self.terms = Terms.model_validate(answer.get("terms"))
            except ValidationError as exc:
                return self._unreachable(
                    f"license server answer has no usable terms: {exc.errors()[0]['msg']}"
                )
            self.validated_at = time.time()
            self.denied = None
            self._save_cache()
            log.info("License validated", extra={"fields": {"license_id": self.terms.license_id}})
            log.info(f"License valid until {iso(self.terms.expires_at)}")
            return True
        code = str(answer.get("code") or "invalid_key")
        reason = str(answer.get("reason") or "the license server refused this license key")
        # A definitive "no" ends the grace: the cache must not outlive a revoked key.
        self.denied = (code, reason)
        self._drop_cache()
        log.error("License refused by the license server", extra={"fields": {"code": code, "reason": reason}})
        return True

    def _unreachable(self, error: str) -> bool:
        self.reachable = False
        self.last_error = error
        if self.unreachable_since is None:
            self.unreachable_since = time.time()
        verdict = self.verdict()
        if verdict.valid:
            log.warning(
                "license server unreachable; running on the cached validation",
                extra={
                    "fields": {
                        "error": error,
                        "grace_remaining_h": round((verdict.grace_remaining_s or 0) / 3600, 2),
                    }
                },
            )
        else:
            log.error(
                "license server unreachable", extra={"fields": {"error": error, "reason": verdict.reason}}
            )
        return False

    async def run(self) -> None:
        """Validate now, then periodically; back off exponentially while the server cannot be reached."""
        failures = 0
        while True:
            ok = await self.validate_once()
            if ok:
                failures = 0
                delay = self.settings.license_check_interval_s
            else:
                failures += 1
                delay = min(
                    self.settings.license_retry_max_s, self.settings.license_retry_min_s * 2 ** (failures - 1)
                )
            await asyncio.sleep(delay)

    # --- verdict ---------------------------------------------------------------------------------------
    def verdict(self, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        if not self.settings.license_key or not self.settings.license_server_url:
            reason = "online licensing needs LICENSE_KEY and LICENSE_SERVER_URL (or set LICENSE_MODE)"
            return Verdict(False, "not_configured", reason, "none")
        if self.denied is not None:
            return Verdict(False, self.denied[0], self.denied[1], "server")
        if self.terms is None or self.validated_at is None:
            if self.reachable is None:
                return Verdict(
                    False, "not_validated", "validating the license with the license server", "none"
                )
            return Verdict(
                False,
                "unreachable",
                f"license not validated yet and the license server is unreachable ({self.last_error}): "
                "check LICENSE_SERVER_URL and the network",
                "none",
            )
        terms, at = self.terms, self.validated_at
        if terms.expires_at <= now:
            return Verdict(
                False, "expired", f"license expired on {iso(terms.expires_at)}: renew it", "server", terms, at
            )
        if self.reachable:
            return Verdict(True, "ok", f"license valid until {iso(terms.expires_at)}", "server", terms, at)
        grace_s = self.settings.license_grace_hours * 3600
        remaining = grace_s - (now - at)
        age_h = (now - at) / 3600
        if remaining <= 0:
            return Verdict(
                False,
                "grace_expired",
                f"license server unreachable and the last validation ({age_h:.1f} h ago) is older than the "
                f"{self.settings.license_grace_hours:g} h grace: restore access to LICENSE_SERVER_URL",
                "cache",
                terms,
                at,
                0.0,
            )
        warning = (
            f"license server unreachable ({self.last_error or 'not reached yet'}); serving on the validation "
            f"from {age_h:.1f} h ago, grace remaining {remaining / 3600:.1f} h"
        )
        return Verdict(True, "cached", warning, "cache", terms, at, remaining, warning)
