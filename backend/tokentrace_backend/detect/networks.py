"""Client addresses grouped into the networks the new-network detector compares: the /24 of
an IPv4 address, the /48 of an IPv6 one (an IPv4-mapped IPv6 address counts as IPv4)."""

from __future__ import annotations

import ipaddress
from typing import Final

IPV4_PREFIX: Final = 24
IPV6_PREFIX: Final = 48


def network_of(address: str | None) -> str | None:
    """``'203.0.113.0/24'`` for ``'203.0.113.7'``; None for what is not an IP address
    (a host name, an empty value). Brackets and an IPv6 zone are ignored."""
    if not address:
        return None
    text = address.strip().removeprefix("[").removesuffix("]").partition("%")[0]
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = IPV4_PREFIX if parsed.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))
