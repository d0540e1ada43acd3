"""Several vLLM replicas behind one client: each generation goes to the healthy replica with the
fewest requests in flight (from this gateway).

TTS_LLM_BASE_URL takes a comma-separated list. An entry `dns+http://name:port` stands for every
address `name` resolves to, looked up again on every health probe: a Kubernetes headless Service
lists its ready pods that way, so replicas that scale up or down are picked up without a restart.
One plain URL gives the single VllmClient, exactly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import urllib.parse
from collections.abc import AsyncGenerator, Callable
from dataclasses import replace

from .config import SvaraConfig
from .vllm_client import Health, SamplingParams, StreamResult, VllmClient

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], VllmClient]


def connect(
    config: SvaraConfig, *, stop_token_ids: list[int], frame_xargs: dict[str, int | list[int]] | None = None
) -> VllmClient:
    """A VllmClient for one URL in `config.vllm_url`, VllmReplicas for a list or a `dns+` entry."""
    urls = [u.strip() for u in config.vllm_url.split(",") if u.strip()]

    def factory(url: str) -> VllmClient:
        return VllmClient(replace(config, vllm_url=url), stop_token_ids=stop_token_ids, frame_xargs=frame_xargs)

    if len(urls) == 1 and not urls[0].startswith("dns+"):
        return factory(urls[0])
    return VllmReplicas(urls, factory)


async def _expand(url: str) -> list[str]:
    if not url.startswith("dns+"):
        return [url]
    parsed = urllib.parse.urlsplit(url[len("dns+") :])
    host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []  # no ready pod yet: no replica
    addresses = sorted({str(info[4][0]) for info in infos})
    return [f"{parsed.scheme}://{f'[{a}]' if ':' in a else a}:{port}{parsed.path}" for a in addresses]


class VllmReplicas(VllmClient):
    """Quacks like one VllmClient (the Svara backend needs no change): payload and limits come from
    the shared options; health, stream and close fan out over the replicas."""

    def __init__(self, urls: list[str], factory: ClientFactory) -> None:
        template = factory(urls[0].removeprefix("dns+"))
        super().__init__(template.config, stop_token_ids=template.stop_token_ids, frame_xargs=template.frame_xargs)
        self._template = template
        self._urls = urls
        self._factory = factory
        self._replicas: dict[str, VllmClient] = {}
        self._healthy: set[str] = set()
        self.outstanding: dict[str, int] = {}

    async def _discover(self) -> None:
        found = [u for url in self._urls for u in await _expand(url)]
        for url in found:
            if url not in self._replicas:
                self._replicas[url] = self._factory(url)
                self.outstanding.setdefault(url, 0)
        for url in set(self._replicas) - set(found):
            gone = self._replicas.pop(url)
            self._healthy.discard(url)
            await gone.close()  # requests in flight on it keep their own response objects

    async def health(self, timeout_s: float = 2.0) -> Health:
        """Rediscover, probe every replica; available while at least one is healthy."""
        await self._discover()
        urls = list(self._replicas)
        results = await asyncio.gather(*(self._replicas[u].health(timeout_s) for u in urls))
        healthy = {u for u, health in zip(urls, results, strict=True) if health.ok}
        if healthy != self._healthy:
            log.info("vllm replicas", extra={"fields": {"healthy": len(healthy), "known": len(urls)}})
        self._healthy = healthy
        if healthy:
            return Health()
        problems = sorted({health.problem for health in results if health.problem})
        return Health("; ".join(problems) if problems else "no vLLM replica found")

    def pick(self) -> str:
        """The healthy replica with the fewest requests in flight (any known one if none is healthy:
        its own error then says what is wrong)."""
        candidates = [u for u in self._replicas if u in self._healthy] or list(self._replicas)
        if not candidates:
            return self._template.base_url
        return min(candidates, key=lambda u: self.outstanding.get(u, 0))

    async def stream(
        self,
        prompt: str,
        sampling: SamplingParams,
        result: StreamResult | None = None,
        prompt_tokens: int | None = None,
    ) -> AsyncGenerator[str, None]:
        url = self.pick()
        client = self._replicas.get(url, self._template)
        self.outstanding[url] = self.outstanding.get(url, 0) + 1
        try:
            async with contextlib.aclosing(client.stream(prompt, sampling, result, prompt_tokens)) as pieces:
                async for text in pieces:
                    yield text
        finally:
            self.outstanding[url] -= 1

    async def close(self) -> None:
        for client in [*self._replicas.values(), self._template]:
            await client.close()
        await super().close()
