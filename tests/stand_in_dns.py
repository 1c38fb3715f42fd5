"""DNS for tests: names answer the addresses a test gives them, any other name does
not exist. The egress policy takes it as its resolver, so no test asks the internet
(and a test can point a name at a local receiver)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence

# a public address nobody connects to in tests: names that only need to pass the checks
PUBLIC = "93.184.215.14"


class StandInDns:
    def __init__(self, table: Mapping[str, Sequence[str]] | None = None) -> None:
        self.table = {name: list(addresses) for name, addresses in (table or {}).items()}

    async def __call__(
        self, host: str, port: int
    ) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in self.table[host]]
