"""Readiness of the gateway's dependencies, probed in the background.

Requests never wait on a probe: `require()` reads the last known state, so checking readiness
costs nothing on the hot path, and a dependency that is down gets a 503 with Retry-After at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from common.states import ComponentState

from .errors import UpstreamUnavailable

log = logging.getLogger(__name__)


class CapabilityState(StrEnum):
    READY = "ready"
    UNAVAILABLE = "unavailable"  # a component it needs is not ready: its requests get 503 + Retry-After
    DISABLED = "disabled"  # not part of this deployment
    NOT_LICENSED = "not_licensed"  # the license lacks its feature


@dataclass(frozen=True)
class Needs:
    any_of: tuple[str, ...] = ()  # one of these ready serves it (e.g. a TTS backend)
    all_of: tuple[str, ...] = ()  # and every one of these


# Each capability, named as its license feature, and the components it needs (every one needs a
# valid license, or licensing disabled).
CAPABILITIES = {"tts": Needs(any_of=("tts", "svara")), "asr": Needs(all_of=("asr", "redis"))}


@dataclass(frozen=True)
class Capability:
    state: CapabilityState
    missing: list[str] = field(default_factory=list)  # components not ready now

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, **({"missing": self.missing} if self.missing else {})}


@dataclass
class ProbeResult:
    state: ComponentState
    detail: dict[str, Any] = field(default_factory=dict)


Probe = Callable[[], Awaitable[ProbeResult]]


@dataclass
class Component:
    name: str
    probe: Probe | None  # None: disabled in this deployment
    state: ComponentState = ComponentState.STARTING
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    ever_ready: bool = False
    since: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"state": self.state.value, **self.detail}
        if self.error and self.state is not ComponentState.READY:
            body["error"] = self.error
        return body


class ComponentRegistry:
    def __init__(self, *, probe_timeout_s: float, retry_after_s: int) -> None:
        self._components: dict[str, Component] = {}
        self._probe_timeout_s = probe_timeout_s
        self._retry_after_s = retry_after_s
        self._changed = asyncio.Event()

    def add(self, name: str, probe: Probe | None) -> None:
        state = ComponentState.DISABLED if probe is None else ComponentState.STARTING
        self._components[name] = Component(name=name, probe=probe, state=state)

    def get(self, name: str) -> Component:
        return self._components[name]

    def is_ready(self, name: str) -> bool:
        component = self._components.get(name)
        return component is not None and component.state is ComponentState.READY

    def require(self, name: str) -> None:
        """Raise a 503 (with Retry-After) unless the component is ready right now."""
        component = self._components[name]
        if component.state is ComponentState.READY:
            return
        if component.state is ComponentState.DISABLED:
            raise UpstreamUnavailable(
                f"{name} is disabled in this deployment", retry_after_s=self._retry_after_s
            )
        raise UpstreamUnavailable(
            f"{name} is {component.state.value}; retry shortly (see GET /health)",
            retry_after_s=self._retry_after_s,
        )

    def mark_down(self, name: str, error: str) -> None:
        """A request saw the dependency fail: do not wait for the next probe to say so."""
        component = self._components[name]
        if component.probe is not None:
            component.state = ComponentState.DOWN if component.ever_ready else ComponentState.STARTING
            component.error = error

    async def refresh(self, component: Component) -> None:
        if component.probe is None:
            return
        try:
            result = await asyncio.wait_for(component.probe(), self._probe_timeout_s)
        except Exception as exc:  # any failure to answer is "not ready"; the reason is reported
            result = ProbeResult(ComponentState.DOWN if component.ever_ready else ComponentState.STARTING)
            component.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            component.error = result.detail.pop("error", None) if result.state is not ComponentState.READY else None
            component.detail = result.detail or component.detail
        if result.state is ComponentState.READY:
            component.ever_ready = True
        if result.state is not component.state:
            log.info(
                "component state changed",
                extra={"fields": {"component": component.name, "from": component.state, "to": result.state}},
            )
            component.since = time.monotonic()
        component.state = result.state

    async def refresh_all(self) -> None:
        await asyncio.gather(*(self.refresh(c) for c in self._components.values()))

    async def run(self, interval_s: float) -> None:
        while True:
            await self.refresh_all()
            await asyncio.sleep(interval_s)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: c.as_dict() for name, c in self._components.items()}

    def capabilities(self) -> dict[str, Capability]:
        """What the gateway can serve now, each judged by its own components (CAPABILITIES): TTS down
        does not make ASR unready, nor the reverse."""
        return {name: self._capability(name, needs) for name, needs in CAPABILITIES.items()}

    def _capability(self, name: str, needs: Needs) -> Capability:
        def state(component: str) -> ComponentState:
            found = self._components.get(component)
            return found.state if found is not None else ComponentState.DISABLED

        choices = [c for c in needs.any_of if state(c) is not ComponentState.DISABLED]
        if needs.any_of and not choices:
            return Capability(CapabilityState.DISABLED)
        licensing = self._components.get("license")
        if licensing is not None and licensing.state is ComponentState.READY and name not in licensing.detail.get(
            "features", [name]
        ):
            return Capability(CapabilityState.NOT_LICENSED)
        required = (*needs.all_of, "license")
        missing = [c for c in (*choices, *required) if state(c) not in (ComponentState.READY, ComponentState.DISABLED)]
        served = all(c not in missing for c in required) and (not choices or any(c not in missing for c in choices))
        return Capability(CapabilityState.READY if served else CapabilityState.UNAVAILABLE, missing)


def http_health_probe(client: httpx.AsyncClient, url: str) -> Probe:
    """Probe a service whose /health answers 200 when ready and 503 {"status": "starting"} while loading."""

    async def probe() -> ProbeResult:
        response = await client.get(url)
        try:
            body = response.json()
        except ValueError:
            body = {}
        detail = {k: v for k, v in body.items() if k != "status"} if isinstance(body, dict) else {}
        if response.status_code == 200:
            return ProbeResult(ComponentState.READY, detail)
        if isinstance(body, dict) and body.get("status") == "starting":
            return ProbeResult(ComponentState.STARTING, detail)
        detail.setdefault("error", f"health answered HTTP {response.status_code}")
        return ProbeResult(ComponentState.DOWN, detail)

    return probe
