"""Offline mode: an Ed25519-signed license file checked against a configured public key.

File format (JSON): {"format": 1, "key_id": ..., "payload": {terms}, "signature": base64}. The signature
covers `canonical_bytes(payload)`. `key_id` names the signing key, so a file signed by another vendor
key is told apart from a file that was edited after signing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from .models import Terms


def canonical_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: sorted keys, no whitespace, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(value: str) -> Ed25519PublicKey:
    """`value` is PEM text or the path of a PEM file."""
    pem = value.encode() if "BEGIN PUBLIC KEY" in value else Path(value).read_bytes()
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("LICENSE_PUBLIC_KEY is not an Ed25519 public key")
    return key


@dataclass
class FileCheck:
    """Outcome of checking a license file: terms when valid, else a code and a message saying which."""

    code: str  # ok | missing | malformed | wrong_key | tampered | expired | no_public_key
    reason: str
    terms: Terms | None = None


def check_license_file(path: Path | None, public_key_setting: str, now: float | None = None) -> FileCheck:
    now = time.time() if now is None else now
    if not public_key_setting:
        return FileCheck("no_public_key", "offline mode needs LICENSE_PUBLIC_KEY (the vendor's public key)")
    try:
        public_key = load_public_key(public_key_setting)
    except (OSError, ValueError) as exc:
        return FileCheck("no_public_key", f"LICENSE_PUBLIC_KEY cannot be loaded: {exc}")
    if path is None:
        return FileCheck("missing", "offline mode needs LICENSE_FILE (the signed license file)")
    try:
        envelope = json.loads(path.read_text())
    except FileNotFoundError:
        return FileCheck("missing", f"license file {path} does not exist")
    except (OSError, ValueError) as exc:
        return FileCheck("malformed", f"license file {path} is not readable JSON: {exc}")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict):
        return FileCheck("malformed", f"license file {path} has no payload: not a license file")
    ours = key_id(public_key)
    theirs = envelope.get("key_id")
    if theirs != ours:
        return FileCheck(
            "wrong_key",
            f"license file is signed with a different key (key id {theirs}, this appliance trusts {ours}): "
            "ask the vendor for a license file signed for this appliance",
        )
    try:
        signature = base64.b64decode(str(envelope.get("signature", "")), validate=True)
        public_key.verify(signature, canonical_bytes(envelope["payload"]))
    except (InvalidSignature, binascii.Error, ValueError):
        return FileCheck(
            "tampered",
            "license file has been modified after it was signed (signature does not match): "
            "restore the original file from the vendor",
        )
    try:
        terms = Terms.model_validate(envelope["payload"])
    except ValidationError as exc:
        return FileCheck("malformed", f"license file payload is incomplete: {exc.errors()[0]['msg']}")
    if terms.expires_at <= now:
        return FileCheck(
            "expired", f"license expired on {_iso(terms.expires_at)}: renew it with the vendor", terms
        )
    return FileCheck("ok", f"license file valid until {_iso(terms.expires_at)}", terms)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
