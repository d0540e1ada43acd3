"""ONNX Runtime sessions in lanes: a run that has the CPU to itself uses every core, concurrent runs
one core share each.

One session shared by concurrent runs makes them fight over the same intra-op thread pool, and its
threads spin while they wait: on 2 cores, 8 sentences through 2 workers took longer than through 1.
A session with one thread per run wastes nothing under load but makes a lone stream's sentence
about 60 % slower. So there are two kinds of session: one "wide" (all cores) for a run that starts
alone, and one "narrow" per worker (cores / workers threads) for runs that overlap. No session spins
(spinning burns the core another run needs). Each session holds its own copy of the weights
(about 90 MB for a medium Piper voice).

The object stands in for `onnxruntime.InferenceSession` where only `run` is called.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's)."""
    return len(os.sched_getaffinity(0))


def _session(model: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])


class SessionLanes:
    def __init__(self, model: Path, workers: int, cores: int | None = None) -> None:
        cores = cores or usable_cores()
        self.wide_threads = cores
        self.narrow_threads = max(1, cores // workers)
        self._wide = _session(model, self.wide_threads)
        # With one worker, or one core per worker already, the wide session is all that is needed.
        narrow_count = workers if workers > 1 and self.narrow_threads < self.wide_threads else 0
        self._narrow = [_session(model, self.narrow_threads) for _ in range(narrow_count)]
        self._lock = threading.Lock()
        self._running = 0
        self._wide_busy = False

    @contextmanager
    def lease(self) -> Iterator[tuple[str, Any]]:
        """The session for a run starting now: ("wide" | "narrow", session)."""
        with self._lock:
            if (self._running == 0 and not self._wide_busy) or not self._narrow:
                lane, session = "wide", self._wide
                self._wide_busy = True
            else:
                lane, session = "narrow", self._narrow.pop()
            self._running += 1
        try:
            yield lane, session
        finally:
            with self._lock:
                self._running -= 1
                if lane == "wide":
                    self._wide_busy = False
                else:
                    self._narrow.append(session)

    def run(self, output_names: Any, feeds: dict[str, Any], *args: Any) -> Any:
        with self.lease() as (_, session):
            return session.run(output_names, feeds, *args)
