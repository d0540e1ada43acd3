#!/usr/bin/env python3
"""Reference license server, for development and tests only (not part of the runtime image).

    license_server.py keygen --out DIR                  # DIR/signing_key.pem, DIR/public_key.pem
    license_server.py sign --key DIR/signing_key.pem --out license.json --license-id L1 \
        --days 365 --features tts,asr,streaming --audio-hours-per-day 8 --concurrent-streams 4
    license_server.py serve --port 7000 --data DIR --licenses licenses.json [--capture FILE]

licenses.json maps license keys to terms: {"KEY": {"license_id", "customer", "expires_at",
"features", "quotas", "revoked"}}. The protocol is documented in README.md ("Licensing").
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

from license_proxy.offline import canonical_bytes, key_id  # noqa: E402


# --- keys and offline license files -----------------------------------------------------------------
def keygen(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    (out / "signing_key.pem").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (out / "public_key.pem").write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def sign_license(private_key_pem: bytes, payload: dict[str, Any]) -> dict[str, Any]:
    private = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise SystemExit("the signing key is not an Ed25519 key")
    signature = private.sign(canonical_bytes(payload))
    return {
        "format": 1,
        "key_id": key_id(private.public_key()),
        "payload": payload,
        "signature": base64.b64encode(signature).decode(),
    }


def terms_from_args(args: argparse.Namespace) -> dict[str, Any]:
    quotas: dict[str, float] = {}
    if args.audio_hours_per_day is not None:
        quotas["audio_hours_per_day"] = args.audio_hours_per_day
    if args.concurrent_streams is not None:
        quotas["concurrent_streams"] = args.concurrent_streams
    expires = args.expires_at if args.expires_at is not None else time.time() + args.days * 86400
    return {
        "license_id": args.license_id,
        "customer": args.customer,
        "issued_at": time.time(),
        "expires_at": expires,
        "features": [f for f in args.features.split(",") if f],
        "quotas": quotas,
    }


# --- the HTTP server ---------------------------------------------------------------------------------
class Store:
    """Usage batches, deduplicated by idempotency key; records kept for audit."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, license_id TEXT, "
            "received_at REAL, n INTEGER, totals TEXT);"
            "CREATE TABLE IF NOT EXISTS records (record_id TEXT PRIMARY KEY, batch_id TEXT, body TEXT);"
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER);"
        )

    def bump(self, name: str) -> None:
        self.db.execute(
            "INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,)
        )

    def add_batch(self, key: str, license_id: str, body: dict[str, Any]) -> bool:
        """True when new; a batch seen before (same idempotency key) is acknowledged, not counted."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("SELECT 1 FROM batches WHERE batch_id = ?", (key,)).fetchone():
                self.bump("duplicate_batches")
                self.db.execute("COMMIT")
                return False
            records = body.get("records", [])
            self.db.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
                (key, license_id, time.time(), len(records), json.dumps(body.get("totals", {}))),
            )
            for record in records:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO records VALUES (?, ?, ?)",
                    (record["record_id"], key, json.dumps(record)),
                )
                if cur.rowcount == 0:
                    self.bump("duplicate_records")
            self.db.execute("COMMIT")
            return True

    def summary(self) -> dict[str, Any]:
        with self.lock:
            batches = self.db.execute("SELECT COUNT(*), COALESCE(SUM(n), 0) FROM batches").fetchone()
            rows = self.db.execute("SELECT record_id, body FROM records").fetchall()
            ids = [r[0] for r in rows]
            request_ids = [json.loads(r[1]).get("request_id") for r in rows]
            counters = dict(self.db.execute("SELECT name, value FROM counters").fetchall())
            totals = [json.loads(r[0]) for r in self.db.execute("SELECT totals FROM batches")]
        return {
            "batches": batches[0],
            "records_in_batches": batches[1],
            "record_ids": ids,
            "request_ids": request_ids,
            "duplicate_batches": counters.get("duplicate_batches", 0),
            "duplicate_records": counters.get("duplicate_records", 0),
            "requests_total": sum(t.get("requests", 0) for t in totals),
            "audio_seconds_total": sum(t.get("audio_seconds", 0.0) for t in totals),
            "characters_total": sum(t.get("characters", 0) for t in totals),
        }


def _append_line(path: Path, line: str) -> None:
    with open(path, "a") as fh:
        fh.write(line + "\n")


def build_app(licenses_path: Path, data: Path, capture: Path | None) -> FastAPI:
    data.mkdir(parents=True, exist_ok=True)
    store = Store(data / "server.sqlite3")
    faults = {"fail_after_record": 0}
    app = FastAPI(title="Reference license server")

    def licenses() -> dict[str, dict[str, Any]]:
        return json.loads(licenses_path.read_text())  # re-read: tests revoke or change terms live

    @app.middleware("http")
    async def capture_everything(request: Request, call_next):  # type: ignore[no-untyped-def]
        if capture is not None and not request.url.path.startswith("/admin"):
            body = await request.body()
            entry = {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": dict(request.headers),
                "body": base64.b64encode(body).decode(),
            }
            _append_line(capture, json.dumps(entry))
        return await call_next(request)

    @app.post("/v1/licenses/validate")
    async def validate(body: dict[str, Any]) -> JSONResponse:
        terms = licenses().get(str(body.get("license_key", "")))
        if terms is None:
            return JSONResponse({"valid": False, "code": "invalid_key", "reason": "unknown license key"}, 403)
        if terms.get("revoked"):
            return JSONResponse(
                {"valid": False, "code": "revoked", "reason": "this license was revoked"}, 403
            )
        if float(terms["expires_at"]) <= time.time():
            reason = "this license has expired: renew it"
            return JSONResponse({"valid": False, "code": "expired", "reason": reason}, 403)
        public = {k: v for k, v in terms.items() if k != "revoked"}
        return JSONResponse({"valid": True, "terms": public, "checked_at": time.time()})

    @app.post("/v1/usage/batches")
    async def usage(request: Request) -> JSONResponse:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        terms = licenses().get(key)
        if terms is None:
            return JSONResponse({"error": "unknown license key"}, 401)
        idem = request.headers.get("idempotency-key")
        if not idem:
            return JSONResponse({"error": "Idempotency-Key header is required"}, 400)
        body = await request.json()
        new = store.add_batch(idem, terms["license_id"], body)
        if faults["fail_after_record"] > 0:  # recorded, but the answer is "lost": the proxy must retry
            faults["fail_after_record"] -= 1
            return JSONResponse({"error": "injected failure after recording"}, 500)
        return JSONResponse({"accepted": len(body.get("records", [])) if new else 0, "duplicate": not new})

    @app.get("/admin/usage")
    async def admin_usage() -> dict[str, Any]:
        return store.summary()

    @app.post("/admin/faults")
    async def admin_faults(body: dict[str, int]) -> dict[str, int]:
        faults.update(body)
        return faults

    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_keygen = sub.add_parser("keygen", help="generate the Ed25519 signing key pair")
    p_keygen.add_argument("--out", type=Path, required=True)
    p_sign = sub.add_parser("sign", help="write a signed offline license file")
    p_sign.add_argument("--key", type=Path, required=True, help="signing_key.pem")
    p_sign.add_argument("--out", type=Path, required=True)
    p_sign.add_argument("--license-id", required=True)
    p_sign.add_argument("--customer", default="")
    p_sign.add_argument("--days", type=float, default=365)
    p_sign.add_argument("--expires-at", type=float, default=None, help="unix time; overrides --days")
    p_sign.add_argument("--features", default="tts,asr,streaming")
    p_sign.add_argument("--audio-hours-per-day", type=float, default=None)
    p_sign.add_argument("--concurrent-streams", type=int, default=None)
    p_serve = sub.add_parser("serve", help="run the validation and usage API")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=7000)
    p_serve.add_argument("--data", type=Path, required=True)
    p_serve.add_argument("--licenses", type=Path, required=True)
    p_serve.add_argument("--capture", type=Path, default=None, help="append every request here (JSON lines)")
    args = parser.parse_args()

    if args.command == "keygen":
        keygen(args.out)
    elif args.command == "sign":
        envelope = sign_license(args.key.read_bytes(), terms_from_args(args))
        args.out.write_text(json.dumps(envelope, indent=2))
    else:
        import uvicorn

        app = build_app(args.licenses, args.data, args.capture)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
