"""Where a callback_url may point, and connecting only to an address that was checked.

The appliance's own services (Redis, vLLM, the license proxy, supervisord) listen on loopback, and
link-local addresses hold cloud metadata services: a URL chosen by an API client must not reach them
(CALLBACK_BLOCKED_NETWORKS, never). Nor may it reach any other address that is not globally routable
(private networks, carrier-grade NAT, reserved ranges: the cluster's own pods and the site's intranet)
unless the operator allow-lists the network (CALLBACK_ALLOWED_NETWORKS), for on-premises receivers.

The gateway checks when it accepts a job (a clear 422). The worker checks again when it delivers, in
the one place that cannot be fooled: `CheckedResolver` resolves the name once, refuses it if any
address is refused, and hands the HTTP client exactly those addresses to connect to. Checking a name
and then letting the client resolve it again would let a DNS server answer a public address to the
check and 127.0.0.1 to the connection (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import AfterValidator

DEFAULT_BLOCKED_NETWORKS = "127.0.0.0/8,::1/128,0.0.0.0/8,::/128,169.254.0.0/16,fe80::/10"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> getaddrinfo-style answers; the event loop's getaddrinfo unless a test needs a fault.
Lookup = Callable[[str, int], Awaitable[list[Any]]]


class CallbackRefused(ValueError):
    """The URL is malformed, does not resolve, or reaches an address callbacks may not reach."""


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


# The settings field type of CALLBACK_BLOCKED_NETWORKS and CALLBACK_ALLOWED_NETWORKS: bad CIDRs fail
# at start-up.
Networks = Annotated[str, AfterValidator(_valid_networks)]


@dataclass(frozen=True)
class CallbackPolicy:
    blocked: tuple[Network, ...]
    allowed: tuple[Network, ...]

    def check(self, address: Address) -> None:
        # An IPv4-mapped IPv6 address reaches its IPv4 address.
        target: Address = getattr(address, "ipv4_mapped", None) or address
        if any(target in network for network in self.blocked):
            raise CallbackRefused(
                f"callback_url reaches {target}, an address callbacks may not reach (CALLBACK_BLOCKED_NETWORKS)"
            )
        if not target.is_global and not any(target in network for network in self.allowed):
            raise CallbackRefused(
                f"callback_url reaches {target}, a private address; the operator can allow its network "
                "(CALLBACK_ALLOWED_NETWORKS)"
            )


def callback_policy(blocked: str, allowed: str) -> CallbackPolicy:
    """The policy of CALLBACK_BLOCKED_NETWORKS and CALLBACK_ALLOWED_NETWORKS (built once per process)."""
    return CallbackPolicy(parse_networks(blocked), parse_networks(allowed))


def callback_target(url: str) -> tuple[str, int]:
    """(host, port) of an absolute http(s) URL, or CallbackRefused."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CallbackRefused("callback_url has an invalid port") from None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise CallbackRefused("callback_url must be an absolute http(s) URL")
    return host, port


async def _getaddrinfo(host: str, port: int) -> list[Any]:
    return await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)


async def checked_addresses(
    host: str, port: int, policy: CallbackPolicy, lookup: Lookup = _getaddrinfo
) -> list[Address]:
    """Every address `host` stands for, resolved once; CallbackRefused if any of them is refused."""
    try:
        addresses: list[Address] = [ipaddress.ip_address(host)]
    except ValueError:  # a name
        addresses = await _resolve(host, port, lookup)
    for address in addresses:
        policy.check(address)
    return addresses


async def _resolve(host: str, port: int, lookup: Lookup) -> list[Address]:
    try:
        infos = await lookup(host, port)
    except (socket.gaierror, UnicodeError):
        infos = []
    # Scoped IPv6 addresses come back as "fe80::1%eth0".
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    if not addresses:
        raise CallbackUnresolvable(f"callback_url host {host!r} does not resolve")
    return addresses


def check_literal(url: str, policy: CallbackPolicy) -> None:
    """The check of a URL whose host is an IP address (aiohttp connects to one without a resolver)."""
    host, _ = callback_target(url)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: CheckedResolver checks it when it connects
    policy.check(address)


async def check_callback_url(url: str, policy: CallbackPolicy) -> None:
    """The gateway's check when it accepts a job: CallbackRefused (a 422) when the URL may not be used."""
    host, port = callback_target(url)
    await checked_addresses(host, port, policy)


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver for callback deliveries: the addresses it returns are the ones checked, so the
    connection goes where the check looked. (aiohttp never asks a resolver about an IP literal: the
    sender checks those itself, and there is nothing to rebind.)"""

    def __init__(self, policy: CallbackPolicy, lookup: Lookup = _getaddrinfo) -> None:
        self.policy = policy
        self.lookup = lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await checked_addresses(host, port, self.policy, self.lookup)
        if family != socket.AF_UNSPEC:
            addresses = [a for a in addresses if (a.version == 6) == (family == socket.AF_INET6)]
        return [
            {
                "hostname": host,  # TLS: SNI and the certificate check use the name, not the address
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        pass
