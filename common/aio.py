"""asyncio helpers shared by the processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

# How long a cancelled task may go on unwinding before it is cancelled again (see cancel_and_wait):
# long enough for a cleanup that awaits a little, short enough that a lost cancellation costs little.
RECANCEL_S = 0.5


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any] | None], *, ignore_errors: bool = False) -> None:
    """Cancel background tasks, then wait for each to finish unwinding (shutdown paths). An error a
    task ended with is raised, unless `ignore_errors` (it was being stopped anyway).

    A cancellation can be lost: Python 3.11's `asyncio.wait_for`, which redis-py wraps around every
    socket write, returns normally when the cancellation arrives just as the write completes. A loop
    of Redis commands (a job's heartbeat) then runs on as if never cancelled, and waiting for it would
    wait forever, so a task still running after RECANCEL_S is cancelled again."""
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    for task in pending:
        while not task.done():
            await asyncio.wait({task}, timeout=RECANCEL_S)
            if not task.done():
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError, *((Exception,) if ignore_errors else ())):
            await task
