"""Durable usage spool (sqlite in STATE_DIR): survives the proxy's own restart and kill -9.

Records are grouped into batches whose id is written *before* the batch is sent, so a batch that is
retried after a crash or a timeout carries the same records under the same idempotency key and the
server counts it once. Delivered records are kept a day so a gateway retry of an already delivered
record is still recognised as a duplicate.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from common.license_api import UsageRecord, UsageToday, utc_day

_KEEP_DELIVERED_S = 86_400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    ts REAL NOT NULL,
    body TEXT NOT NULL,
    batch_id TEXT,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_pending ON records (delivered, batch_id, seq);
CREATE TABLE IF NOT EXISTS daily (
    day TEXT PRIMARY KEY,
    requests INTEGER NOT NULL,
    audio_seconds REAL NOT NULL,
    characters INTEGER NOT NULL
);
"""


class SpoolFull(Exception):
    pass


@dataclass
class Batch:
    batch_id: str
    records: list[dict[str, object]]


class UsageSpool:
    def __init__(self, path: Path, max_records: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_records = max_records
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL + FULL: a committed record survives kill -9 and power loss.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, records: list[UsageRecord], *, report: bool = True) -> tuple[int, int]:
        """Store records; returns (accepted, duplicates). Raises SpoolFull when over the bound.

        report=False (offline, disabled: no server to report to) counts them for today's quota only."""
        with self._lock:
            pending = self._pending_locked()
            ids = [r.record_id for r in records]
            marks = ",".join("?" * len(ids))
            known = {
                row[0]
                for row in self._db.execute(
                    f"SELECT record_id FROM records WHERE record_id IN ({marks})", ids
                )
            }
            # Retries of stored records are answered as duplicates, even when the spool is full.
            if pending + len(set(ids) - known) > self.max_records:
                raise SpoolFull(f"usage spool is full ({pending}/{self.max_records} records undelivered)")
            accepted = 0
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for record in records:
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO records (record_id, ts, body, delivered) VALUES (?, ?, ?, ?)",
                        (record.record_id, record.ts, record.model_dump_json(), 0 if report else 1),
                    )
                    if cur.rowcount == 0:
                        continue
                    accepted += 1
                    self._db.execute(
                        "INSERT INTO daily (day, requests, audio_seconds, characters) VALUES (?, 1, ?, ?) "
                        "ON CONFLICT(day) DO UPDATE SET requests = requests + 1, "
                        "audio_seconds = audio_seconds + excluded.audio_seconds, "
                        "characters = characters + excluded.characters",
                        (utc_day(record.ts), record.audio_seconds, record.characters),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return accepted, len(records) - accepted

    def usage_on(self, day: str) -> UsageToday:
        with self._lock:
            row = self._db.execute(
                "SELECT requests, audio_seconds, characters FROM daily WHERE day = ?", (day,)
            ).fetchone()
        if row is None:
            return UsageToday(day=day)
        return UsageToday(day=day, requests=row[0], audio_seconds=row[1], characters=row[2])

    def pending(self) -> int:
        with self._lock:
            return self._pending_locked()

    def _pending_locked(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM records WHERE delivered = 0").fetchone()[0])

    def next_batch(self, limit: int) -> Batch | None:
        """The batch to send next: an unacknowledged one first (same id, same records), else a new one."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT batch_id FROM records WHERE delivered = 0 AND batch_id IS NOT NULL "
                    "ORDER BY seq LIMIT 1"
                ).fetchone()
                if row is not None:
                    batch_id = row[0]
                else:
                    batch_id = uuid.uuid4().hex
                    cur = self._db.execute(
                        "UPDATE records SET batch_id = ? WHERE seq IN (SELECT seq FROM records "
                        "WHERE delivered = 0 AND batch_id IS NULL ORDER BY seq LIMIT ?)",
                        (batch_id, limit),
                    )
                    if cur.rowcount == 0:
                        self._db.execute("COMMIT")
                        return None
                bodies = self._db.execute(
                    "SELECT body FROM records WHERE batch_id = ? ORDER BY seq", (batch_id,)
                ).fetchall()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Batch(batch_id=batch_id, records=[json.loads(body) for (body,) in bodies])

    def ack(self, batch_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE records SET delivered = 1 WHERE batch_id = ?", (batch_id,))
            self._db.execute(
                "DELETE FROM records WHERE delivered = 1 AND ts < ?", (time.time() - _KEEP_DELIVERED_S,)
            )
