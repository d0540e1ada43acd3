"""The ASR worker registry in Redis: how gateways find streaming workers when there are several.

Shared by the worker (which writes its own record) and the gateway (which reads them all), so that
key and field names cannot drift apart. No heavy imports: the gateway imports this module.

Each worker owns one key, `record_key(worker_id)`, a JSON `WorkerRecord` written with an expiry of
a few heartbeats, and adds its id to the set `WORKERS`. It rewrites the record on every heartbeat
and at once whenever a streaming session opens or closes, so `sessions` is fresh when a gateway
picks. A worker killed without cleanup simply stops heartbeating: its record expires and gateways
drop the id from the set. Nobody but the owner writes a record, so there is no read-modify-write race.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass

WORKERS = "asr:workers"


def record_key(worker_id: str) -> str:
    return f"asr:worker:{worker_id}"


@dataclass(frozen=True)
class WorkerRecord:
    worker_id: str
    url: str  # http(s)://host:port of the worker's API, as gateways reach it
    capacity: int  # streaming sessions it takes at most
    sessions: int  # streaming sessions open now
    ready: bool  # model loaded
    heartbeat: float  # unix time of the last write

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: bytes | str) -> WorkerRecord:
        return cls(**json.loads(raw))

    @property
    def free(self) -> int:
        return self.capacity - self.sessions

    @property
    def load(self) -> float:
        return self.sessions / max(self.capacity, 1)


def by_load(records: list[WorkerRecord]) -> list[WorkerRecord]:
    """Ready workers with a free slot, least loaded first; ties in random order so that gateways
    picking at the same moment do not all land on the same worker."""
    usable = [r for r in records if r.ready and r.free > 0]
    random.shuffle(usable)
    return sorted(usable, key=lambda r: r.load)
