"""Signed callback deliveries: the worker signs, a receiver verifies.

Header `X-Appliance-Signature: t=<unix seconds>,v1=<hex>`, where hex is HMAC-SHA256 with the shared
secret (CALLBACK_SIGNING_SECRET) over `<t>.` followed by the exact body bytes. A receiver recomputes
it over the raw body, compares in constant time, and refuses a timestamp older than a few minutes, so
a captured delivery cannot be replayed later. README "Security" gives receivers that check, and the
delivery test runs the README's own code against real deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Appliance-Signature"


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for one delivery of `body`, signed now (each retry is signed afresh)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"
