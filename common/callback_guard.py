"""Where a callback_url may point.

The appliance's own services (Redis, vLLM, the license proxy, supervisord) listen on loopback, and
link-local addresses hold cloud metadata services: a URL chosen by an API client must not reach them.
The gateway checks when it accepts a job (a clear 422), and the worker again before each delivery,
since a name may resolve elsewhere by then. Private networks stay allowed: on-premises receivers
live there.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

DEFAULT_BLOCKED_NETWORKS = "127.0.0.0/8,::1/128,0.0.0.0/8,::/128,169.254.0.0/16,fe80::/10"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackRefused(ValueError):
    """The URL is malformed, does not resolve, or reaches a blocked network."""


class CallbackUnresolvable(CallbackRefused):
    """The host name does not resolve (perhaps only for now)."""


@functools.cache
def parse_networks(spec: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs; raises ValueError naming the bad one. Cached: the gateway asks per request."""
    networks = []
    for part in (p.strip() for p in spec.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"not a network in CIDR form: {part!r}") from None
    return tuple(networks)


def _valid_networks(spec: str) -> str:
    parse_networks(spec)
    return spec


# The settings field type of CALLBACK_BLOCKED_NETWORKS (gateway and worker): bad CIDRs fail at start-up.
BlockedNetworks = Annotated[str, AfterValidator(_valid_networks)]


async def check_callback_url(url: str, blocked: tuple[Network, ...]) -> None:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CallbackRefused("callback_url has an invalid port") from None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise CallbackRefused("callback_url must be an absolute http(s) URL")
    for address in await _addresses(host, port):
        for candidate in (address, getattr(address, "ipv4_mapped", None)):
            if candidate is not None and any(candidate in network for network in blocked):
                raise CallbackRefused(
                    f"callback_url reaches {candidate}, an address callbacks may not reach "
                    "(CALLBACK_BLOCKED_NETWORKS)"
                )


async def _addresses(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass  # a name: resolve it
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise CallbackUnresolvable(f"callback_url host {host!r} does not resolve") from None
    # Scoped IPv6 addresses come back as "fe80::1%eth0".
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
