"""`python -m health_monitor`: run the health monitor."""

from __future__ import annotations

import asyncio

from common.logging import setup_logging

from .monitor import run
from .settings import MonitorSettings


def main() -> None:
    settings = MonitorSettings()
    setup_logging("health_monitor", settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
