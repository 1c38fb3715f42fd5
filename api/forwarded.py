"""The client's address: the TCP peer, or X-Forwarded-For behind a trusted proxy.

Anyone can send X-Forwarded-For. Only a proxy we run appends to it truthfully, and
each proxy appends the address it received the connection from, so the header is read
from the right: skip the addresses of our own proxies, and the first one left is the
client. Everything to its left was written by the client and is ignored. With no
trusted proxy configured the header is ignored entirely.

Read here rather than by the server (uvicorn's ``proxy_headers``) so that the rule is
the same under any ASGI server and is configured in one place
(``Settings.trusted_proxies``).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=8)
def trusted_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _address(text: str) -> Address | None:
    """An address as a proxy writes it: plain, ``[v6]:port`` or ``v4:port``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    # an IPv4 client of a dual-stack socket is the same client as over IPv4
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]
) -> str:
    """The client's address for a connection from ``peer`` that carried the given
    X-Forwarded-For header values (all of them, in order)."""
    peer_address = _address(peer) if peer else None
    if peer_address is None:
        return peer or "unknown"
    if not trusted or not _trusted(peer_address, trusted):
        return str(peer_address)
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    nearest = peer_address
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # our proxy passed on something that is no address: the client is what
            # connected to that proxy, as far as we can know
            return str(nearest)
        if not _trusted(address, trusted):
            return str(address)
        nearest = address
    # every hop is one of our proxies: the left-most is where the request entered
    return str(nearest)
