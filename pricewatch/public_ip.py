"""Which IP addresses are public: the address half of the egress policy (pure).

Python's ``ipaddress`` ``is_global`` is a start but not the rule: it calls
multicast global, and it judges IPv6 forms that carry an IPv4 address
(``::ffff:127.0.0.1``, 6to4, NAT64) by the IPv6 ranges rather than by the
IPv4 address they reach. So the ranges are listed here, each with the words
that tell a user why an address is refused, and ``is_global`` only has the
last word.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _table(*rows: tuple[str, str]) -> tuple[tuple[_Network, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in rows)


# Checked in order, so a narrower range comes before the one that holds it.
_V4_NOT_PUBLIC = _table(
    ("0.0.0.0/32", "the unspecified address"),
    ("0.0.0.0/8", "a 'this network' address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
)
_V6_NOT_PUBLIC = _table(
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("fc00::/7", "a unique local (private) address"),
    ("ff00::/8", "a multicast address"),
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    # Teredo, benchmarking, ORCHID and other protocol assignments
    ("2001::/23", "an IETF protocol address"),
)
# Every globally routed IPv6 unicast address is in here (IANA); the rest is not public.
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 form carries, with the form's name. These reach
    (or are read as) the IPv4 address, so that address is what is judged."""
    if ip.ipv4_mapped is not None:
        return "an IPv4-mapped form of", ip.ipv4_mapped
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    if ip in _V4_TRANSLATED:
        return "an IPv4-translated form of", low32
    if ip.sixtofour is not None:
        return "a 6to4 form of", ip.sixtofour
    if ip in _NAT64:
        return "a NAT64 form of", low32
    if ip in _V4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves
        return "an IPv4-compatible form of", low32
    return None


def plain_address(ip: IPAddress | str) -> IPAddress:
    """An address as an object, without an IPv6 zone."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(int(address))
    return address


def non_public_reason(ip: IPAddress | str) -> str | None:
    """Why ``ip`` is not a public address ("a loopback address", ...), or None
    when it is one. Raises ValueError for text that is not an IP address."""
    address = plain_address(ip)
    if isinstance(address, ipaddress.IPv4Address):
        for network, why in _V4_NOT_PUBLIC:
            if address in network:
                return why
        # is_global knows ranges added after this table; multicast counts as global there
        return None if address.is_global and not address.is_multicast else "a reserved address"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        form, v4 = embedded
        inner = non_public_reason(v4)
        return None if inner is None else f"{form} {v4}, {inner}"
    for network, reason in _V6_NOT_PUBLIC:
        if address in network:
            return reason
    if address not in _V6_GLOBAL_UNICAST or not address.is_global:
        return "a reserved address"
    return None


def is_public(ip: IPAddress | str) -> bool:
    """True for addresses anyone on the internet can reach: not loopback,
    private, shared (CGNAT), link-local, unique local, multicast, unspecified,
    broadcast, reserved or documentation. IPv6 forms that carry an IPv4
    address (mapped, compatible, translated, 6to4, NAT64) are judged by it."""
    return non_public_reason(ip) is None


def as_connected(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address is its IPv4 address on the wire."""
    address = plain_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
