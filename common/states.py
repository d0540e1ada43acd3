"""Component states shared by the gateway's /health and the health monitor."""

from __future__ import annotations

from enum import StrEnum


class ComponentState(StrEnum):
    STARTING = "starting"  # not ready yet, never was: still loading
    READY = "ready"
    DOWN = "down"  # was reachable before, or past its start-up grace, and is not now
    DISABLED = "disabled"  # not part of this deployment
    INVALID = "invalid"  # answers, but refuses to serve (the license component: no valid license)

# Redis hash written by the health monitor (program -> JSON of its supervisord state) and shown by
# the gateway's /health.
PROGRAMS_KEY = "appliance:programs"
# Redis hash: program -> how many times the health monitor restarted it (survives monitor restarts).
RESTARTS_KEY = "appliance:monitor_restarts"
